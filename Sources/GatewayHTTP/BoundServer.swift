// A listening server and the connections it accepted, so both the small HTTP server and the
// proxy can stop the same way: stop accepting, let in-flight exchanges end, then close.
import NIOCore
import Synchronization
import NIOHTTP1

/// A bound, accepting server returned by ``HTTPServer/start()`` and ``WeightedProxy/start()``.
///
/// Call ``shutdown(gracePeriod:)`` exactly when the server should stop; it is safe to call twice.
public final class BoundServer: Sendable {
    /// The address the listening socket is bound to (the real port when port 0 was asked for).
    public let localAddress: SocketAddress
    /// One listening socket per event loop, all on one port.
    let serverChannels: [any Channel]
    private let connections: ConnectionTracker
    private let afterClose: @Sendable () async -> Void

    init(
        serverChannels: [any Channel],
        localAddress: SocketAddress,
        connections: ConnectionTracker,
        afterClose: @escaping @Sendable () async -> Void = {}
    ) {
        self.localAddress = localAddress
        self.serverChannels = serverChannels
        self.connections = connections
        self.afterClose = afterClose
    }

    /// How many connections the server has accepted since it started (those refused over its limit not included).
    public var acceptedConnections: Int { connections.acceptedCount }

    /// How many accepted connections are open now.
    public var openConnections: Int { connections.openCount }

    /// The bound TCP port.
    public var port: Int { localAddress.port ?? 0 }

    /// Stops accepting, asks open connections to finish their current exchange, waits for them up to
    /// `gracePeriod`, then closes whatever is left.
    public func shutdown(gracePeriod: Duration = .seconds(5)) async {
        await closeListeners()
        await connections.quiesce(gracePeriod: gracePeriod)
        await afterClose()
    }

    /// Completes when the listening sockets have closed, by ``shutdown(gracePeriod:)`` or otherwise; when one
    /// closes on its own the others are closed too, so the server never listens on fewer loops unnoticed.
    public func waitUntilClosed() async {
        await withTaskGroup(of: Void.self) { group in
            for channel in serverChannels {
                group.addTask { try? await channel.closeFuture.get() }
            }
            await group.next()
            await closeListeners()
        }
    }

    private func closeListeners() async {
        for channel in serverChannels { try? await channel.close() }
    }

    /// Serves until the calling task is cancelled, then shuts down gracefully.
    ///
    /// This is the body of a swift-service-lifecycle `Service.run()`: wrap the call in
    /// `cancelOnGracefulShutdown()` to turn a graceful shutdown into this cancellation.
    public func runUntilCancelled(gracePeriod: Duration = .seconds(5)) async {
        await withTaskCancellationHandler {
            await waitUntilClosed()
        } onCancel: {
            for channel in serverChannels { channel.close(promise: nil) }
        }
        await shutdown(gracePeriod: gracePeriod)
    }
}

/// The accepted connections of one server, so shutdown can quiesce and then close them, and so their number
/// stays under a limit.
final class ConnectionTracker: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var quiescing = false
        var accepted = 0
    }

    /// What ``admit(_:)`` decided about a new connection.
    enum Admission {
        /// Tracked: set it up to serve.
        case admitted
        /// ``limit`` connections are open: answer that, and close it.
        case overLimit
        /// Shutdown has begun: close it.
        case shuttingDown
    }

    private let state = Mutex(State())
    /// The most connections tracked at once.
    let limit: Int

    /// Creates a tracker for at most `limit` open connections (no limit by default).
    init(limit: Int = .max) {
        self.limit = limit
    }

    /// Registers an accepted connection unless shutdown has begun or `limit` are open; the caller acts on the
    /// answer. A registered connection is forgotten when it closes.
    func admit(_ channel: any Channel) -> Admission {
        let id = ObjectIdentifier(channel)
        let admission = state.withLock { state -> Admission in
            guard !state.quiescing else { return .shuttingDown }
            guard state.channels.count < limit else { return .overLimit }
            state.accepted += 1
            state.channels[id] = channel
            return .admitted
        }
        guard case .admitted = admission else { return admission }
        channel.closeFuture.whenComplete { [self] _ in
            _ = state.withLock { $0.channels.removeValue(forKey: id) }
        }
        return admission
    }

    var acceptedCount: Int { state.withLock { $0.accepted } }

    var openCount: Int { state.withLock { $0.channels.count } }

    /// Sends every connection the quiesce event (HTTPServerPipelineHandler closes an idle connection
    /// at once and a busy one after its response), then force-closes stragglers after `gracePeriod`.
    func quiesce(gracePeriod: Duration) async {
        let channels = state.withLock { state -> [any Channel] in
            state.quiescing = true
            return Array(state.channels.values)
        }
        guard !channels.isEmpty else { return }
        for channel in channels {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for channel in channels { try? await channel.closeFuture.get() }
                return true
            }
            group.addTask {
                try? await Task.sleep(for: gracePeriod)
                return false
            }
            let allClosed = await group.next() ?? false
            group.cancelAll()
            if !allClosed {
                for channel in channels { channel.close(promise: nil) }
            }
        }
    }
}
