// Keep-alive connections to upstreams, one pool per event loop: a client connection only ever uses
// upstream connections of its own loop, so no exchange hops threads and nothing here needs a lock.
import NIOCore
import NIOHTTP1
import NIOPosix

/// What an upstream connection reports to the exchange currently using it; all calls come on the loop.
protocol UpstreamConnectionOwner: AnyObject {
    func upstreamReceived(_ part: HTTPClientResponsePart, from connection: UpstreamConnection)
    func upstreamReadComplete(from connection: UpstreamConnection)
    func upstreamClosed(_ connection: UpstreamConnection)
    func upstreamWritabilityChanged(_ connection: UpstreamConnection, isWritable: Bool)
}

/// The last handler of an upstream connection's pipeline: forwards response parts to its owner and
/// holds reads back while the client cannot take more.
final class UpstreamConnection: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    let upstream: Upstream
    private(set) var context: ChannelHandlerContext?
    /// The exchange using this connection; nil while the connection idles in the pool.
    /// Held strongly and cleared explicitly at the end of every exchange, which is cheaper than weak.
    var owner: (any UpstreamConnectionOwner)?
    fileprivate var pool: UpstreamPool?
    fileprivate var isIdle = false
    fileprivate var idleSince = NIODeadline.now()
    private var readsHeld = false
    private var readPending = false

    init(upstream: Upstream) {
        self.upstream = upstream
    }

    var isActive: Bool { context?.channel.isActive ?? false }
    var isWritable: Bool { context?.channel.isWritable ?? false }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        owner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let owner else {
            // A response nobody asked for (or bytes after one) on an idle connection: it cannot be reused.
            context.close(promise: nil)
            return
        }
        owner.upstreamReceived(unwrapInboundIn(data), from: self)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        owner?.upstreamReadComplete(from: self)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if isIdle { pool?.remove(self) }
        pool = nil
        let owner = self.owner
        self.owner = nil
        owner?.upstreamClosed(self)
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        owner?.upstreamWritabilityChanged(self, isWritable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Decoder errors and resets: the connection is unusable; channelInactive tells the owner.
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        if readsHeld {
            readPending = true
        } else {
            context.read()
        }
    }

    /// Stops or resumes reading responses, for backpressure from a slow client.
    func holdReads(_ hold: Bool) {
        readsHeld = hold
        if !hold, readPending, let context {
            readPending = false
            context.read()
        }
    }

    func write(_ part: HTTPClientRequestPart) {
        context?.write(wrapOutboundOut(part), promise: nil)
    }

    func flush() {
        context?.flush()
    }

    func close() {
        owner = nil
        context?.close(promise: nil)
    }
}

/// The idle keep-alive connections of one event loop, per upstream, bounded.
final class UpstreamPool {
    let eventLoop: any EventLoop
    private var idle: [Upstream: [UpstreamConnection]] = [:]
    private let maxIdlePerUpstream: Int
    private let idleTimeout: TimeAmount
    private let connectTimeout: TimeAmount
    private var closed = false

    init(eventLoop: any EventLoop, maxIdlePerUpstream: Int, idleTimeout: TimeAmount, connectTimeout: TimeAmount) {
        self.eventLoop = eventLoop
        self.maxIdlePerUpstream = maxIdlePerUpstream
        self.idleTimeout = idleTimeout
        self.connectTimeout = connectTimeout
    }

    /// The most recently used live idle connection to `upstream`, if any; the most recent is the
    /// least likely to have been closed by the upstream's own idle timeout.
    func takeIdle(_ upstream: Upstream) -> UpstreamConnection? {
        let oldest = NIODeadline.now() - idleTimeout
        // Optional chaining mutates the stored array in place (no copy of the list).
        while let connection = idle[upstream]?.popLast() {
            connection.isIdle = false
            if connection.isActive && connection.idleSince > oldest {
                return connection
            }
            connection.close()
        }
        return nil
    }

    /// Starts a new connection to `upstream` on this loop: the handler at once, the channel when connected.
    func connect(_ upstream: Upstream) -> (UpstreamConnection, EventLoopFuture<any Channel>) {
        let handler = UpstreamConnection(upstream: upstream)
        handler.pool = self
        let handlerBox = NIOLoopBound(handler, eventLoop: eventLoop)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // The proxy sets framing headers itself, exactly as the client framed the request.
                    var encoder = HTTPRequestEncoder.Configuration()
                    encoder.automaticallySetFramingHeaders = false
                    try channel.pipeline.syncOperations.addHTTPClientHandlers(
                        enableOutboundHeaderValidation: false, encoderConfiguration: encoder
                    )
                    try channel.pipeline.syncOperations.addHandler(handlerBox.value)
                }
            }
        // An IP literal needs no resolver round trip (the common case: endpoints are pod IPs).
        let future: EventLoopFuture<any Channel>
        if let address = try? SocketAddress(ipAddress: upstream.host, port: Int(upstream.port)) {
            future = bootstrap.connect(to: address)
        } else {
            future = bootstrap.connect(host: upstream.host, port: Int(upstream.port))
        }
        return (handler, future)
    }

    /// Takes a connection back after a complete exchange, or closes it when the pool is full or closed.
    func release(_ connection: UpstreamConnection) {
        connection.owner = nil
        // Reads may have been held for a slow client; an idle connection must notice its own close.
        connection.holdReads(false)
        guard !closed, connection.isActive else {
            connection.close()
            return
        }
        if (idle[connection.upstream]?.count ?? 0) >= maxIdlePerUpstream {
            connection.close()
            return
        }
        connection.isIdle = true
        connection.idleSince = .now()
        idle[connection.upstream, default: []].append(connection)
    }

    /// Forgets an idle connection that closed.
    fileprivate func remove(_ connection: UpstreamConnection) {
        connection.isIdle = false
        idle[connection.upstream]?.removeAll { $0 === connection }
    }

    /// Closes every idle connection and every one released from now on.
    func closeAll() {
        closed = true
        let all = idle.values.flatMap { $0 }
        idle.removeAll()
        for connection in all {
            connection.isIdle = false
            connection.pool = nil
            connection.close()
        }
    }
}
