// Collects one request at a time (HTTPServerPipelineHandler holds back pipelined ones) and writes
// the handler's answer with the framing and keep-alive headers the server owns.
import NIOCore
import NIOHTTP1

final class HTTPServerRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case idle
        case receiving(HTTPRequestHead, ByteBuffer)
        // The body outgrew the limit: 413 is on its way and the connection will close.
        case rejected
        case responding
    }

    private let responder: HTTPServer.Responder
    private let maxBodySize: Int
    private var state = State.idle

    init(responder: HTTPServer.Responder, maxBodySize: Int) {
        self.responder = responder
        self.maxBodySize = maxBodySize
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if case .rejected = state { return }
        switch part {
        case .head(let head):
            guard case .idle = state else { return protocolViolation(context: context) }
            if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > maxBodySize {
                return reject(context: context, version: head.version)
            }
            state = .receiving(head, ByteBuffer())
        case .body(var chunk):
            guard case .receiving(let head, var body) = state else { return protocolViolation(context: context) }
            guard body.readableBytes + chunk.readableBytes <= maxBodySize else {
                return reject(context: context, version: head.version)
            }
            // Drop the stored reference first so the append grows the buffer in place.
            state = .responding
            body.writeBuffer(&chunk)
            state = .receiving(head, body)
        case .end:
            guard case .receiving(let head, let body) = state else { return protocolViolation(context: context) }
            state = .responding
            let request = HTTPServerRequest(
                method: head.method, uri: head.uri, headers: head.headers, body: body,
                remoteAddress: context.channel.remoteAddress
            )
            respond(context: context, request: request, head: head)
        }
    }

    // Parts out of order cannot come from NIO's decoder; closing keeps this total anyway.
    private func protocolViolation(context: ChannelHandlerContext) {
        state = .rejected
        context.close(promise: nil)
    }

    private func respond(context: ChannelHandlerContext, request: HTTPServerRequest, head: HTTPRequestHead) {
        switch responder {
        case .immediate(let handler):
            write(context: context, response: handler(request), head: head)
        case .async(let handler):
            let promise = context.eventLoop.makePromise(of: HTTPServerResponse.self)
            promise.completeWithTask { await handler(request) }
            promise.futureResult.assumeIsolated().whenSuccess { response in
                self.write(context: context, response: response, head: head)
            }
        }
    }

    private func write(context: ChannelHandlerContext, response: HTTPServerResponse, head: HTTPRequestHead) {
        guard context.channel.isActive else { return }
        let keepAlive = head.isKeepAlive
        var headers = response.headers
        headers.replaceOrAdd(name: "content-length", value: String(response.body.readableBytes))
        if !keepAlive {
            headers.replaceOrAdd(name: "connection", value: "close")
        } else if head.version.minor == 0 {
            headers.replaceOrAdd(name: "connection", value: "keep-alive")
        }
        // Reset before writing the end: the pipeline handler may deliver the next pipelined
        // request from inside that write.
        state = .idle
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: response.status, headers: headers))), promise: nil)
        if response.body.readableBytes > 0 && head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        }
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }
    }

    private func reject(context: ChannelHandlerContext, version: HTTPVersion) {
        state = .rejected
        let body = ByteBuffer(string: "request body too large\n")
        let headers: HTTPHeaders = ["content-length": String(body.readableBytes), "connection": "close"]
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: .payloadTooLarge, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}
