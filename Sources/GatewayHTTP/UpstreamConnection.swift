// One connection to an upstream: encodes the request parts it is given, parses the response with
// ResponseParser and hands the events to the exchange that owns it for the moment.
import NIOCore
import NIOHTTP1

/// What an upstream connection reports to the exchange currently using it; all calls come on the loop.
protocol UpstreamConnectionOwner: AnyObject {
    func upstreamReceived(_ event: UpstreamResponseEvent, from connection: UpstreamConnection)
    func upstreamReadComplete(from connection: UpstreamConnection)
    func upstreamClosed(_ connection: UpstreamConnection)
    func upstreamWritabilityChanged(_ connection: UpstreamConnection, isWritable: Bool)
}

/// The only handler of an upstream connection: encodes requests, parses responses with
/// ``ResponseParser``, forwards them to its owner, and holds reads back while the client cannot take more.
/// Its stored state is `@exclusivity(unchecked)`, for the reasons ``ProxyHandler`` gives.
final class UpstreamConnection: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let upstream: Upstream
    @exclusivity(unchecked) private(set) var context: ChannelHandlerContext?
    /// The exchange using this connection; nil while the connection idles in the pool.
    /// Held strongly and cleared explicitly at the end of every exchange, which is cheaper than weak.
    @exclusivity(unchecked) var owner: (any UpstreamConnectionOwner)?
    @exclusivity(unchecked) var pool: UpstreamPool?
    @exclusivity(unchecked) var isIdle = false
    @exclusivity(unchecked) var idleSince = NIODeadline.now()
    /// Set when the upstream sent bytes beyond its response: the connection cannot be reused.
    @exclusivity(unchecked) private(set) var isPoisoned = false
    @exclusivity(unchecked) private var parser = ResponseParser()
    /// Bytes of a response line or head that has not fully arrived yet.
    @exclusivity(unchecked) private var partial: ByteBuffer?
    @exclusivity(unchecked) private var requestIsChunked = false
    @exclusivity(unchecked) private var reads = ReadHold()

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
        var buffer = HTTPBytes.afterUnread(&partial, unwrapInboundIn(data))
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
        } else {
            partial = HTTPBytes.unread(buffer)
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
        if reads.admit() { context.read() }
    }

    /// Stops or resumes reading responses, for backpressure from a slow client.
    func holdReads(_ hold: Bool) {
        if reads.hold(hold), let context { context.read() }
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
