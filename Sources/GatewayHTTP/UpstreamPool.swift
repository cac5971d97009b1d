// Keep-alive connections to upstreams, one pool per event loop: a client connection only ever uses
// upstream connections of its own loop, so no exchange hops threads and nothing here needs a lock.
import NIOCore
import NIOHTTP1
import NIOPosix

/// What an upstream connection reports to the exchange currently using it; all calls come on the loop.
protocol UpstreamConnectionOwner: AnyObject {
    func upstreamReceived(_ event: UpstreamResponseEvent, from connection: UpstreamConnection)
    func upstreamReadComplete(from connection: UpstreamConnection)
    func upstreamClosed(_ connection: UpstreamConnection)
    func upstreamWritabilityChanged(_ connection: UpstreamConnection, isWritable: Bool)
}

/// The only handler of an upstream connection: encodes requests, parses responses with
/// ``ResponseParser``, forwards them to its owner, and holds reads back while the client cannot take more.
final class UpstreamConnection: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let upstream: Upstream
    private(set) var context: ChannelHandlerContext?
    /// The exchange using this connection; nil while the connection idles in the pool.
    /// Held strongly and cleared explicitly at the end of every exchange, which is cheaper than weak.
    var owner: (any UpstreamConnectionOwner)?
    fileprivate var pool: UpstreamPool?
    fileprivate var isIdle = false
    fileprivate var idleSince = NIODeadline.now()
    /// Set when the upstream sent bytes beyond its response: the connection cannot be reused.
    fileprivate(set) var isPoisoned = false
    private var parser = ResponseParser()
    /// Bytes of a response line or head that has not fully arrived yet.
    private var partial: ByteBuffer?
    private var requestIsChunked = false
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
        var buffer = unwrapInboundIn(data)
        if var earlier = partial {
            partial = nil
            earlier.writeBuffer(&buffer)
            buffer = earlier
        }
        guard owner != nil, !parser.isDone else {
            // A response nobody asked for (or bytes after one): the connection cannot be reused.
            isPoisoned = true
            context.close(promise: nil)
            return
        }
        do {
            while let event = try parser.next(&buffer) {
                if case .end = event, buffer.readableBytes > 0 { isPoisoned = true }
                owner?.upstreamReceived(event, from: self)
                if case .end = event { break }
            }
        } catch {
            isPoisoned = true
            context.close(promise: nil)
            return
        }
        if isPoisoned {
            context.close(promise: nil)
        } else if buffer.readableBytes > 0 {
            partial = buffer
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        owner?.upstreamReadComplete(from: self)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if isIdle { pool?.remove(self) }
        pool = nil
        let owner = self.owner
        self.owner = nil
        // A close-delimited body ends exactly here; anything else under way was cut short.
        if let owner, !parser.isAwaitingHead, let end = try? parser.endOfInput() {
            owner.upstreamReceived(end, from: self)
        } else {
            owner?.upstreamClosed(self)
        }
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        owner?.upstreamWritabilityChanged(self, isWritable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Resets and the like: the connection is unusable; channelInactive tells the owner.
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

    /// Writes an encoded request head (unflushed) and prepares for its response.
    func writeHead(_ head: ByteBuffer, isHEAD: Bool, chunked: Bool) {
        guard let context else { return }
        parser.reset(requestWasHEAD: isHEAD)
        partial = nil
        requestIsChunked = chunked
        context.write(wrapOutboundOut(head), promise: nil)
    }

    /// Encodes and writes one body part or the end of a request (unflushed).
    func write(_ part: HTTPClientRequestPart) {
        guard let context else { return }
        switch part {
        case .head:
            // Heads go through writeHead, encoded once per request.
            break
        case .body(.byteBuffer(let chunk)):
            writeBody(chunk, context: context)
        case .body(.fileRegion):
            // The proxy only forwards bytes it read; a file region cannot reach this point.
            break
        case .end:
            if requestIsChunked {
                var out = context.channel.allocator.buffer(capacity: 5)
                out.writeStaticString("0\r\n\r\n")
                context.write(wrapOutboundOut(out), promise: nil)
            }
        }
    }

    private func writeBody(_ chunk: ByteBuffer, context: ChannelHandlerContext) {
        guard requestIsChunked else {
            context.write(wrapOutboundOut(chunk), promise: nil)
            return
        }
        // An empty chunk would end the body early.
        guard chunk.readableBytes > 0 else { return }
        var size = context.channel.allocator.buffer(capacity: 18)
        RequestEncoding.writeChunkSize(chunk.readableBytes, into: &size)
        context.write(wrapOutboundOut(size), promise: nil)
        context.write(wrapOutboundOut(chunk), promise: nil)
        var crlf = context.channel.allocator.buffer(capacity: 2)
        crlf.writeStaticString("\r\n")
        context.write(wrapOutboundOut(crlf), promise: nil)
    }

    func flush() {
        context?.flush()
    }

    func close() {
        owner = nil
        context?.close(promise: nil)
    }
}

/// The idle keep-alive connections of one event loop, per upstream, bounded per upstream and in all.
final class UpstreamPool {
    let eventLoop: any EventLoop
    private var idle: [Upstream: [UpstreamConnection]] = [:]
    private let maxIdlePerUpstream: Int
    /// The most idle connections kept on this loop over all upstreams: the loop's share of the
    /// proxy's connection limit, so idle connections cannot exhaust the descriptors the limit leaves.
    private let maxIdleTotal: Int
    private var idleCount = 0
    private let idleTimeout: TimeAmount
    private let connectTimeout: TimeAmount
    private var closed = false

    init(eventLoop: any EventLoop, maxIdlePerUpstream: Int, maxIdleTotal: Int = .max, idleTimeout: TimeAmount, connectTimeout: TimeAmount) {
        self.eventLoop = eventLoop
        self.maxIdlePerUpstream = maxIdlePerUpstream
        self.maxIdleTotal = max(1, maxIdleTotal)
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
            idleCount -= 1
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
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
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
        guard !closed, connection.isActive, !connection.isPoisoned, idleCount < maxIdleTotal else {
            connection.close()
            return
        }
        // One dictionary lookup: the list is modified in place through the subscript.
        if Self.append(connection, to: &idle[connection.upstream, default: []], limit: maxIdlePerUpstream) {
            idleCount += 1
        } else {
            connection.close()
        }
    }

    private static func append(_ connection: UpstreamConnection, to list: inout [UpstreamConnection], limit: Int) -> Bool {
        guard list.count < limit else { return false }
        connection.isIdle = true
        connection.idleSince = .now()
        list.append(connection)
        return true
    }

    /// Forgets an idle connection that closed.
    fileprivate func remove(_ connection: UpstreamConnection) {
        connection.isIdle = false
        let before = idle[connection.upstream]?.count ?? 0
        idle[connection.upstream]?.removeAll { $0 === connection }
        idleCount -= before - (idle[connection.upstream]?.count ?? 0)
    }

    /// Closes the idle connections to upstreams not in `live`: the table no longer routes to them, and
    /// one handed to a retry later could be stale or hang (a paused endpoint still holds its sockets).
    func closeIdle(notIn live: Set<Upstream>) {
        let gone = idle.keys.filter { !live.contains($0) }
        for upstream in gone {
            guard let connections = idle.removeValue(forKey: upstream) else { continue }
            idleCount -= connections.count
            for connection in connections {
                connection.isIdle = false
                connection.pool = nil
                connection.close()
            }
        }
    }

    /// How many idle connections the pool holds to `upstream` (for tests).
    func idleCount(_ upstream: Upstream) -> Int {
        idle[upstream]?.count ?? 0
    }

    /// Closes every idle connection and every one released from now on.
    func closeAll() {
        closed = true
        let all = idle.values.flatMap { $0 }
        idle.removeAll()
        idleCount = 0
        for connection in all {
            connection.isIdle = false
            connection.pool = nil
            connection.close()
        }
    }
}
