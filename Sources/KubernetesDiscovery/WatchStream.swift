#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore

/// Splits a byte stream into newline-terminated lines, refusing any line longer than a limit.
///
/// The limit is what keeps a broken or hostile API server from making the agent buffer without end:
/// the watch stream is otherwise unbounded, and Kubernetes frames each event as one JSON line.
struct LineSplitter {
    /// The longest line accepted, in bytes, not counting the newline.
    let maxLineBytes: Int
    private var pending: [UInt8] = []
    // Bytes of `pending` already known to hold no newline, so a long line arriving in many small
    // chunks is scanned once, not once per chunk.
    private var scanned = 0

    init(maxLineBytes: Int) {
        self.maxLineBytes = maxLineBytes
    }

    /// Adds a chunk and returns the complete, non-empty lines it finished, without their newlines.
    mutating func feed(_ chunk: ByteBuffer) throws(KubernetesDiscoveryError) -> [[UInt8]] {
        pending.append(contentsOf: chunk.readableBytesView)
        var lines: [[UInt8]] = []
        var lineStart = 0
        var index = scanned
        while index < pending.count {
            if pending[index] == UInt8(ascii: "\n") {
                var end = index
                if end > lineStart, pending[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                if end - lineStart > maxLineBytes { throw .lineTooLong(limit: maxLineBytes) }
                if end > lineStart { lines.append(Array(pending[lineStart..<end])) }
                lineStart = index + 1
            }
            index += 1
        }
        pending.removeFirst(lineStart)
        scanned = pending.count
        if pending.count > maxLineBytes { throw .lineTooLong(limit: maxLineBytes) }
        return lines
    }

    /// The bytes after the last newline once the stream has ended, when there are any.
    mutating func finish() -> [UInt8]? {
        defer { pending = []; scanned = 0 }
        let rest = pending.drop(while: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") })
        return rest.isEmpty ? nil : Array(rest)
    }
}

/// Turns the chunks of a watch response body into watch events.
struct ObjectWatchDecoder<Object: KubernetesObject> {
    private var splitter: LineSplitter
    private let decoder = JSONDecoder()

    init(maxLineBytes: Int) {
        splitter = LineSplitter(maxLineBytes: maxLineBytes)
    }

    /// The events completed by this chunk, in order.
    mutating func feed(_ chunk: ByteBuffer) throws(KubernetesDiscoveryError) -> [ObjectWatchEvent<Object>] {
        var events: [ObjectWatchEvent<Object>] = []
        for line in try splitter.feed(chunk) {
            events.append(try decoder.decodeKubernetes(ObjectWatchEvent<Object>.self, from: Data(line)))
        }
        return events
    }

    /// The last event when the stream ended without a final newline.
    mutating func finish() throws(KubernetesDiscoveryError) -> ObjectWatchEvent<Object>? {
        guard let line = splitter.finish() else { return nil }
        return try decoder.decodeKubernetes(ObjectWatchEvent<Object>.self, from: Data(line))
    }
}

typealias WatchEventDecoder = ObjectWatchDecoder<EndpointSlice>
