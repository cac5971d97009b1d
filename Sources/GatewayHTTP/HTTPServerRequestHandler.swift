// Collects one request at a time (HTTPServerPipelineHandler holds back pipelined ones), writes the handler's
// answer with the framing and keep-alive headers the server owns, and gives every state of the connection a
// deadline. It takes the next request only once the previous answer has left for the socket: a client that
// pipelines without reading its answers fills its own socket, not our memory.
import NIOCore
import NIOHTTP1

final class HTTPServerRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// The connection's deadlines, each from ``HTTPServer/Configuration``.
    struct Limits {
        var maxBodySize: Int
        var idle: TimeAmount
        var head: TimeAmount
        var body: TimeAmount
        var write: TimeAmount

        init(_ configuration: HTTPServer.Configuration) {
            maxBodySize = configuration.maxRequestBodySize
            idle = TimeAmount(configuration.idleTimeout)
            head = TimeAmount(configuration.requestHeadTimeout)
            body = TimeAmount(configuration.requestBodyTimeout)
            write = TimeAmount(configuration.responseWriteTimeout)
        }
    }

    /// Which deadline a state runs against; the name of the counter it bumps when it passes.
    enum Deadline {
        case idle, head, body, write
    }

    /// A request that came in while the previous answer was still waiting for the socket.
    private enum Next {
        case none
        case partial(HTTPRequestHead, ByteBuffer)
        case complete(HTTPRequestHead, ByteBuffer)
    }

    private enum State {
        /// Waiting for the first byte of a request (keep-alive, or a fresh connection).
        case idle
        /// Bytes of a head have come, the head is not complete.
        case readingHead
        /// The head is in; the body is being collected.
        case readingBody(HTTPRequestHead, ByteBuffer)
        /// The handler has the request.
        case handling
        /// The answer is written but the socket has not taken it all; reading is paused.
        case draining(Next)
        /// An answer that closes the connection is on its way, or the connection is closing.
        case closing
    }

    private let responder: HTTPServer.Responder
    private let limits: Limits
    private let stats: HTTPServerStats
    private var state = State.idle
    /// When the current state's time is up, and which deadline that is; nil while the handler works.
    private var deadline: (at: NIODeadline, kind: Deadline)?
    private var timer: Scheduled<Void>?
    private var timerAt: NIODeadline?
    private var readingPaused = false

    init(responder: HTTPServer.Responder, limits: Limits, stats: HTTPServerStats) {
        self.responder = responder
        self.limits = limits
        self.stats = stats
    }

    // MARK: Events

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive {
            enterIdle(context: context)
            armTimer(context: context)
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        enterIdle(context: context)
        armTimer(context: context)
        context.fireChannelActive()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // Deadlines set while reading are armed here, once per read: a request that arrives whole in one read
        // moves the deadline several times but schedules no timer.
        armTimer(context: context)
        context.fireChannelReadComplete()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        deadline = nil
        state = .closing
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ConnectionGate.RequestBytesArrived {
            if case .idle = state {
                state = .readingHead
                setDeadline(.head, in: limits.head, context: context)
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, case .draining(let next) = state {
            if let request = finishDraining(next, context: context) { serve(request, context: context) }
            armTimer(context: context)
        }
        context.fireChannelWritabilityChanged()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch (part, state) {
        case (_, .closing):
            return
        case (.head(let head), .idle), (.head(let head), .readingHead):
            guard fits(head) else { return reject(context: context, version: head.version) }
            state = .readingBody(head, ByteBuffer())
            setDeadline(.body, in: limits.body, context: context)
        case (.head(let head), .draining(.none)):
            guard fits(head) else { return reject(context: context, version: head.version) }
            state = .draining(.partial(head, ByteBuffer()))
        case (.body(var chunk), .readingBody(let head, var body)):
            guard body.readableBytes + chunk.readableBytes <= limits.maxBodySize else {
                return reject(context: context, version: head.version)
            }
            // Drop the stored reference first so the append grows the buffer in place.
            state = .handling
            body.writeBuffer(&chunk)
            state = .readingBody(head, body)
            setDeadline(.body, in: limits.body, context: context)
        case (.body(var chunk), .draining(.partial(let head, var body))):
            guard body.readableBytes + chunk.readableBytes <= limits.maxBodySize else {
                return reject(context: context, version: head.version)
            }
            state = .handling
            body.writeBuffer(&chunk)
            state = .draining(.partial(head, body))
        case (.end, .readingBody(let head, let body)):
            serve((head, body), context: context)
        case (.end, .draining(.partial(let head, let body))):
            state = .draining(.complete(head, body))
        default:
            // Parts out of order cannot come from NIO's decoder and pipeline handler; closing keeps this total.
            state = .closing
            context.close(promise: nil)
        }
    }

    private func fits(_ head: HTTPRequestHead) -> Bool {
        guard let length = head.headers.first(name: "content-length").flatMap(Int.init) else { return true }
        return length <= limits.maxBodySize
    }

    // MARK: Answering

    /// Hands requests to the handler one at a time. An immediate handler's answers are written in this loop,
    /// not by recursion, so a deep pipeline cannot deepen the stack.
    private func serve(_ first: (HTTPRequestHead, ByteBuffer), context: ChannelHandlerContext) {
        var next: (HTTPRequestHead, ByteBuffer)? = first
        while let (head, body) = next.take() {
            state = .handling
            deadline = nil
            stats.requestHandled()
            let request = HTTPServerRequest(
                method: head.method, uri: head.uri, headers: head.headers, body: body,
                remoteAddress: context.channel.remoteAddress
            )
            switch responder {
            case .immediate(let handler):
                next = write(context: context, response: handler(request), head: head)
            case .async(let handler):
                let promise = context.eventLoop.makePromise(of: HTTPServerResponse.self)
                promise.completeWithTask { await handler(request) }
                promise.futureResult.assumeIsolated().whenSuccess { response in
                    if let following = self.write(context: context, response: response, head: head) {
                        self.serve(following, context: context)
                    }
                    self.armTimer(context: context)
                }
            }
        }
    }

    /// Writes an answer; returns the next request when it is complete and may be served at once.
    private func write(context: ChannelHandlerContext, response: HTTPServerResponse, head: HTTPRequestHead) -> (HTTPRequestHead, ByteBuffer)? {
        guard context.channel.isActive, case .handling = state else { return nil }
        let keepAlive = head.isKeepAlive
        var headers = response.headers
        headers.replaceOrAdd(name: "content-length", value: String(response.body.readableBytes))
        if !keepAlive {
            headers.replaceOrAdd(name: "connection", value: "close")
        } else if head.version.minor == 0 {
            headers.replaceOrAdd(name: "connection", value: "keep-alive")
        }
        // Set before writing the end: the pipeline handler may deliver the next pipelined request from inside
        // that write, and it must land in `draining`.
        state = keepAlive ? .draining(.none) : .closing
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: response.status, headers: headers))), promise: nil)
        if response.body.readableBytes > 0 && head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        }
        guard keepAlive else {
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
            setDeadline(.write, in: limits.write, context: context)
            armTimer(context: context)
            return nil
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        guard case .draining(let next) = state else { return nil }
        guard context.channel.isWritable else {
            // The socket did not take the answer: stop reading until it does, or until the write deadline.
            stats.pausedForBackpressure()
            pauseReading(context: context)
            setDeadline(.write, in: limits.write, context: context)
            armTimer(context: context)
            return nil
        }
        return finishDraining(next, context: context)
    }

    /// Leaves `draining` for the state its next request calls for; returns that request when it is complete.
    private func finishDraining(_ next: Next, context: ChannelHandlerContext) -> (HTTPRequestHead, ByteBuffer)? {
        resumeReading(context: context)
        switch next {
        case .none:
            enterIdle(context: context)
            return nil
        case .partial(let head, let body):
            state = .readingBody(head, body)
            setDeadline(.body, in: limits.body, context: context)
            return nil
        case .complete(let head, let body):
            return (head, body)
        }
    }

    private func enterIdle(context: ChannelHandlerContext) {
        state = .idle
        context.triggerUserOutboundEvent(ConnectionGate.Command.watchForRequestBytes, promise: nil)
        setDeadline(.idle, in: limits.idle, context: context)
    }

    private func pauseReading(context: ChannelHandlerContext) {
        guard !readingPaused else { return }
        readingPaused = true
        context.triggerUserOutboundEvent(ConnectionGate.Command.pauseReading, promise: nil)
    }

    private func resumeReading(context: ChannelHandlerContext) {
        guard readingPaused else { return }
        readingPaused = false
        context.triggerUserOutboundEvent(ConnectionGate.Command.resumeReading, promise: nil)
    }

    private func reject(context: ChannelHandlerContext, version: HTTPVersion) {
        state = .closing
        let body = ByteBuffer(string: "request body too large\n")
        let headers: HTTPHeaders = ["content-length": String(body.readableBytes), "connection": "close"]
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: .payloadTooLarge, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
        setDeadline(.write, in: limits.write, context: context)
        armTimer(context: context)
    }

    // MARK: Deadlines

    /// Sets the current state's deadline; ``armTimer(context:)`` makes sure a timer fires by then.
    private func setDeadline(_ kind: Deadline, in amount: TimeAmount, context: ChannelHandlerContext) {
        deadline = (context.eventLoop.now + amount, kind)
    }

    /// One timer serves every state: it is rescheduled only when the deadline comes before the pending timer; a
    /// timer that fires early re-arms for the deadline then current, so a body's every chunk costs a store.
    private func armTimer(context: ChannelHandlerContext) {
        guard let at = deadline?.at else { return }
        if let timerAt, timerAt <= at { return }
        schedule(at: at, context: context)
    }

    private func schedule(at: NIODeadline, context: ChannelHandlerContext) {
        timer?.cancel()
        timerAt = at
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: at) {
            self.timerFired(context: context)
        }
    }

    private func timerFired(context: ChannelHandlerContext) {
        timer = nil
        timerAt = nil
        guard let deadline else { return }
        if context.eventLoop.now < deadline.at {
            return schedule(at: deadline.at, context: context)
        }
        self.deadline = nil
        stats.timedOut(deadline.kind)
        state = .closing
        context.close(promise: nil)
    }
}
