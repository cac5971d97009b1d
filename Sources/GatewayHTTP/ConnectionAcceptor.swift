// Sets up each accepted connection in the listener's read, without NIO's chain of futures around the set-up.
import NIOCore

/// The first handler of a listening channel: it takes every accepted connection before `ServerBootstrap`'s own
/// accept handler would, admits it, lets `configure` build its pipeline, and passes it on past that handler to the
/// listener's own end of the pipeline, which registers it with the loop.
///
/// Why not `childChannelInitializer`: NIO's accept handler applies the (empty) child options through a promise, then
/// chains the initializer's future with two `flatMap`s and a `makeSucceededFuture`. Each of those four futures is
/// made and freed by generic code that looks its type up at run time, some 2 k instructions apiece (callgrind, a new
/// connection per request). The registration is left to NIO as it was (a task, a promise, a `flatMapThrowing`): it
/// closes a connection whose epoll registration fails, where the shorter way for a socket that arrives connected
/// (`registerAlreadyConfigured0`) traps, and a flood of connections on a node short of epoll watches must cost
/// connections, not the process.
///
/// NIO's accept handler stays in the pipeline and still closes the listener on quiesce; it sees no connection,
/// unless NIO ever renames it, when connections go through it as before.
final class ConnectionAcceptor: ChannelInboundHandler {
    typealias InboundIn = any Channel

    private let tracker: ConnectionTracker
    private let refuse: (@Sendable (any Channel) throws -> Void)?
    private let configure: @Sendable (any Channel) throws -> Void
    /// NIO's accept handler (`ServerBootstrap` names it so): a connection fired from its context reaches the listener's
    /// end of the pipeline without passing through it. Looked up at the first connection, as it is added after this
    /// handler; this handler's own context when it cannot be found.
    private var passOn: ChannelHandlerContext?

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
        if passOn == nil {
            passOn = (try? context.pipeline.syncOperations.context(name: "AcceptHandler")) ?? context
        }
        passOn?.fireChannelRead(data)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        passOn = nil
    }

    /// Admits `channel` and builds its pipeline; false when it was closed instead (and goes no further).
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
