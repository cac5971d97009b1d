// Counters of the small HTTP server, so tests and metrics can see its defences act.
import Atomics

/// What a running ``HTTPServer`` has done, counted since it was created (all its starts together).
///
/// Every counter only grows; read them with the properties. They exist so an operator (through metrics) and a
/// test (directly) can tell a deadline or the backpressure acting from a connection that merely went away.
public final class HTTPServerStats: Sendable {
    private let requestCount = ManagedAtomic(0)
    private let pauseCount = ManagedAtomic(0)
    private let refusedCount = ManagedAtomic(0)
    private let idleCount = ManagedAtomic(0)
    private let headCount = ManagedAtomic(0)
    private let bodyCount = ManagedAtomic(0)
    private let writeCount = ManagedAtomic(0)

    init() {}

    /// Complete requests handed to the handler.
    public var requests: Int { requestCount.load(ordering: .relaxed) }
    /// Times a connection stopped reading because its answers were not being read (the socket was full).
    public var backpressurePauses: Int { pauseCount.load(ordering: .relaxed) }
    /// Connections answered 503 and closed because ``HTTPServer/Configuration/maxConnections`` were open.
    public var refusedOverLimit: Int { refusedCount.load(ordering: .relaxed) }
    /// Keep-alive connections closed after ``HTTPServer/Configuration/idleTimeout`` without a request byte.
    public var idleTimeouts: Int { idleCount.load(ordering: .relaxed) }
    /// Connections closed because a request head did not complete within ``HTTPServer/Configuration/requestHeadTimeout``.
    public var headTimeouts: Int { headCount.load(ordering: .relaxed) }
    /// Connections closed because a request body made no progress within ``HTTPServer/Configuration/requestBodyTimeout``.
    public var bodyTimeouts: Int { bodyCount.load(ordering: .relaxed) }
    /// Connections closed because their answer was not taken within ``HTTPServer/Configuration/responseWriteTimeout``.
    public var writeTimeouts: Int { writeCount.load(ordering: .relaxed) }

    func requestHandled() { requestCount.wrappingIncrement(ordering: .relaxed) }
    func pausedForBackpressure() { pauseCount.wrappingIncrement(ordering: .relaxed) }
    func refused() { refusedCount.wrappingIncrement(ordering: .relaxed) }

    func timedOut(_ kind: HTTPServerRequestHandler.Deadline) {
        switch kind {
        case .idle: idleCount.wrappingIncrement(ordering: .relaxed)
        case .head: headCount.wrappingIncrement(ordering: .relaxed)
        case .body: bodyCount.wrappingIncrement(ordering: .relaxed)
        case .write: writeCount.wrappingIncrement(ordering: .relaxed)
        }
    }
}
