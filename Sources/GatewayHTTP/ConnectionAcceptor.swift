// Sets up and starts each accepted connection in the listener's read, without NIO's chain of futures.
import NIOCore

/// The first handler of a listening channel: it takes every accepted connection before `ServerBootstrap`'s own
/// accept handler would, admits it, lets `configure` build its pipeline, and registers it with the loop at once.
///
/// Why not `childChannelInitializer`: NIO's accept handler applies the (empty) child options through a promise, chains
/// the initializer's future with two `flatMap`s and a `makeSucceededFuture`, and its listener then schedules a task
/// that registers the connection through another promise and `flatMapThrowing`. Each of those six futures is made
/// and freed by generic code that looks its type up at run time: 19.7 k of a new connection's 127.5 k instructions
/// (callgrind, a new connection per request) went to that path alone. Here there is one: the registration's own
/// promise inside `registerAlreadyConfigured0`.
///
/// `registerAlreadyConfigured0` is what NIO itself uses for a socket that arrives connected (`withConnectedSocket`),
/// and an accepted socket is one: it registers the channel with the selector and makes it active, which starts reads.
/// One difference: NIO's own path closes a connection whose epoll registration fails, and this one traps (NIO's
/// `try!`, for errors it deems fatal: no kernel memory, or the user's epoll watches used up). The default connection
/// limit keeps the proxy's descriptors within half of the user's watches (`ConnectionLimit.descriptorLimit`), so a
/// flood of connections is answered 503 long before; what remains is a kernel out of memory.
/// NIO's accept handler stays in the pipeline behind this one and still closes the listener on quiesce; it sees no
/// connection.
final class ConnectionAcceptor: ChannelInboundHandler {
    typealias InboundIn = any Channel

    private let tracker: ConnectionTracker
    private let refuse: (@Sendable (any Channel) throws -> Void)?
    private let configure: @Sendable (any Channel) throws -> Void

    init(
        tracker: ConnectionTracker,
        refuse: (@Sendable (any Channel) throws -> Void)?,
        configure: @escaping @Sendable (any Channel) throws -> Void
    ) {
        self.tracker = tracker
        self.refuse = refuse
        self.configure = configure
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let accepted = Self.unwrapInboundIn(data)
        // Accepting on another loop would need the hop NIO's handler makes; the listeners keep theirs (`listener`).
        precondition(accepted.eventLoop === context.eventLoop, "a connection accepted for another loop")
        guard context.channel.isActive else {
            accepted.close(promise: nil)
            return
        }
        do {
            guard try setUp(accepted) else { return }
        } catch {
            accepted.close(promise: nil)
            context.fireErrorCaught(error)
            return
        }
        accepted._channelCore.registerAlreadyConfigured0(promise: nil)
    }

    /// Admits `channel` and builds its pipeline; false when it was closed instead (and must not be registered).
    private func setUp(_ channel: any Channel) throws -> Bool {
        switch tracker.admit(channel) {
        case .admitted:
            try configure(channel)
            return true
        case .overLimit:
            // Set up to answer and close; without a way to answer, close at once.
            guard let refuse else { break }
            try refuse(channel)
            return true
        case .shuttingDown:
            break
        }
        channel.close(promise: nil)
        return false
    }
}
