// A first-in-first-out queue that holds no storage until something waits in it.
import NIOCore

/// A `CircularBuffer` made on the first `append`. A connection keeps two queues of request parts (pipelined
/// requests, and parts waiting for an upstream connection) that stay empty for almost every request; making both
/// buffers up front cost a new connection 1.6 k of its 114 k instructions (callgrind, a new connection per request).
/// Once made, the buffer and its capacity are kept for the connection's life.
struct LazyQueue<Element> {
    private var buffer: CircularBuffer<Element>?

    init() {}

    init(_ elements: some Collection<Element>) {
        if !elements.isEmpty { buffer = CircularBuffer(elements) }
    }

    var isEmpty: Bool { buffer?.isEmpty ?? true }

    var count: Int { buffer?.count ?? 0 }

    var first: Element? { buffer?.first }

    mutating func append(_ element: Element) {
        if buffer == nil { buffer = CircularBuffer(initialCapacity: 2) }
        buffer!.append(element)
    }

    /// The first element, removed; nil when empty.
    mutating func popFirst() -> Element? {
        buffer?.popFirst()
    }

    /// Empties the queue and keeps its storage.
    mutating func removeAll() {
        buffer?.removeAll(keepingCapacity: true)
    }

    func contains(where predicate: (Element) throws -> Bool) rethrows -> Bool {
        try buffer?.contains(where: predicate) ?? false
    }
}
