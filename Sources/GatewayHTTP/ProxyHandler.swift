// One client connection of the proxy: checks and routes each request, streams it to an upstream
// connection of the same event loop, streams the response back, and retries once when the upstream
// connection fails before answering. Every state of the connection has a deadline (ClientDeadlines).
// Everything runs on the connection's loop, so no state is shared.
import NIOCore
import NIOHTTP1

/// What every connection of one proxy shares; immutable.
final class ProxyShared: Sendable {
    let selector: any UpstreamSelector
    let hooks: ProxyHooks
    let timeouts: ClientTimeouts
    let retryBodyLimit: Int
    let limit: ConnectionLimit
    let resend: ResendPolicy

    init(
        selector: any UpstreamSelector, hooks: ProxyHooks, timeouts: ClientTimeouts, retryBodyLimit: Int, limit: ConnectionLimit,
        resend: ResendPolicy = ResendPolicy()
    ) {
        self.selector = selector
        self.hooks = hooks
        self.timeouts = timeouts
        self.retryBodyLimit = retryBodyLimit
        self.limit = limit
        self.resend = resend
    }
}

final class ProxyHandler: ChannelDuplexHandler, UpstreamConnectionOwner {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = ByteBuffer
    /// Responses are written as bytes: proxied heads are spliced from the upstream's own bytes.
    typealias OutboundOut = ByteBuffer

    private enum Phase {
        /// Waiting for a request head.
        case idle
        /// A request is on its way to an upstream, or its response on its way back.
        case proxying
        /// The response is complete but the request body is still arriving: read and drop it.
        case draining
        case closed
    }

    private let shared: ProxyShared
    private let pool: UpstreamPool
    /// This loop's client connections, which this one joins while it lives (for table publications).
    private let clients: LoopClients?
    private var context: ChannelHandlerContext?
    /// The client's address as `X-Forwarded-For` and `Forwarded` name it; fixed per connection.
    private var clientIP = "unknown"
    private var forwardedFor = "for=unknown"

    private var phase = Phase.idle
    /// The current request's route, in the table it took (its retry picks there too).
    private var route: RouteHandle?
    /// The request head as the upstream gets it, encoded.
    private var upstreamHead = ByteBuffer()
    private var upstreamChunked = false
    private var clientVersion = HTTPVersion.http1_1
    private var clientKeepAlive = true
    private var isHEAD = false
    /// How far the request's current try got, and whether it may still go elsewhere (pure rules).
    private var tries = ExchangeTries(mayResend: false)
    /// The request's body waits for `100 Continue` (`Expect: 100-continue`), and whether the proxy sent it.
    private var expectContinue = false
    private var continueSent = false
    private var upstream: Upstream?
    /// The upstream connection of the current try once connected.
    private var connection: UpstreamConnection?
    /// Bumped whenever a try ends, so late connects and timers of an earlier try do nothing.
    private var attempt: UInt64 = 0
    /// A try given up while still connecting to an endpoint the table dropped: its late connection
    /// is closed rather than pooled.
    private var discardedAttempt: UInt64?
    /// Request parts not yet written to the current try (it is still connecting).
    private var pending = CircularBuffer<HTTPClientRequestPart>()
    private var pendingBytes = 0
    /// Request body parts already written, kept while a retry is still possible.
    private var replay: [HTTPClientRequestPart] = []
    private var replayBytes = 0
    private var requestComplete = false
    private var upstreamKeepAlive = false
    private var closeAfterResponse = false
    /// The response body is re-framed as chunked for the client (the upstream's length was unknown).
    private var chunkedToClient = false
    /// A response head not written yet, so a small body can join it in one buffer (one write, not writev).
    private var heldHead: ByteBuffer?
    /// When the current wait began, and the progress its deadline may run from.
    private var clock = ClientClock(now: .now())
    /// A request head, or a request's end, was read in the current read batch (to tell whether a
    /// batch that completed nothing began a new head).
    private var headInBatch = false
    private var endInBatch = false
    /// The connection's one timer, for every deadline. It is not moved per request: it is armed at
    /// most the shortest timeout ahead (ClientTimeouts.checkPeriod), so it never fires after a
    /// deadline set later, and it re-arms whenever it fires, whatever the state.
    private var timer: NIOScheduledCallback?
    private var clientReadsHeld = false
    private var clientReadPending = false
    /// Request parts that arrived while an earlier request's response was still due.
    private var pipelined = CircularBuffer<HTTPServerRequestPart>()
    /// Set by shutdown: no further request on this connection.
    private var quiescing = false
    /// Body parts were written upstream since the last flush; flushed once per read batch.
    private var upstreamNeedsFlush = false

    init(shared: ProxyShared, pool: UpstreamPool, clients: LoopClients? = nil) {
        self.shared = shared
        self.pool = pool
        self.clients = clients
    }

    // MARK: Client side

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        clients?.add(self)
        let now = NIODeadline.now()
        clock = ClientClock(now: now)
        armTimer(context: context, now: now)
        if let ip = context.channel.remoteAddress?.ipAddress {
            clientIP = ip
            // RFC 7239 §6: an IPv6 address is bracketed and the value quoted.
            forwardedFor = ip.contains(":") ? "for=\"[\(ip)]\";proto=http" : "for=\(ip);proto=http"
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        abandonExchange()
        clients?.remove(self)
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        abandonExchange()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A request that does not parse gets 400 when no response is under way (this replaces NIO's
        // HTTPServerProtocolErrorHandler, one pipeline hop less for every part of every request).
        let canAnswer = error is HTTPParserError && (phase == .idle || (phase == .proxying && !tries.responseStarted && connection == nil))
        abandonExchange()
        guard canAnswer else {
            context.close(promise: nil)
            return
        }
        let head = ClientResponseHead(status: .local(.badRequest), framing: .empty, keepAlive: false)
        var out = context.channel.allocator.buffer(capacity: head.estimatedSize)
        head.write(clientMinor: 1, into: &out)
        context.writeAndFlush(wrapOutboundOut(out)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
        shared.hooks.onResponse(nil, HTTPResponseStatus.badRequest.code)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch part {
        case .head: headInBatch = true
        case .body: clock.progress &+= 1
        case .end: endInBatch = true
        }
        // Pipelined requests wait, in order, until the response before them is complete. (This
        // replaces NIO's HTTPServerPipelineHandler, which stops and restarts reading around every
        // request: two epoll_ctl calls per request on the hot path.)
        if !pipelined.isEmpty || mustWait(part) {
            pipelined.append(part)
            updateClientReadHold()
            return
        }
        handle(part)
    }

    private func mustWait(_ part: HTTPServerRequestPart) -> Bool {
        if case .head = part, case .proxying = phase { return true }
        return false
    }

    private func handle(_ part: HTTPServerRequestPart) {
        switch part {
        case .head(let head):
            guard case .idle = phase else {
                // Only reachable while closing: the decoder never sends a head inside a request.
                return
            }
            startExchange(head)
        case .body(let chunk):
            guard case .proxying = phase else { return }
            forward(.body(.byteBuffer(chunk)), bytes: chunk.readableBytes)
        case .end(let trailers):
            switch phase {
            case .proxying:
                requestComplete = true
                forward(.end(trailers), bytes: 0)
            case .draining:
                phase = .idle
                clock.waitSince = .now()
                closeIfQuiescedAndIdle()
            case .idle, .closed:
                break
            }
        }
    }

    /// Hands waiting pipelined parts over once the exchange before them has ended.
    private func deliverPipelined() {
        while let part = pipelined.first, !mustWait(part) {
            pipelined.removeFirst()
            handle(part)
        }
        updateClientReadHold()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        // Shutdown: an idle connection closes now, a busy one after its current response.
        quiescing = true
        closeIfQuiescedAndIdle()
    }

    private func closeIfQuiescedAndIdle() {
        guard quiescing, case .idle = phase, let context else { return }
        abandonExchange()
        context.close(promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if upstreamNeedsFlush {
            upstreamNeedsFlush = false
            connection?.flush()
        }
        // A read batch that completed no head while none was under way, or that came after the
        // request's end, began the next request head: its deadline runs from now.
        if clock.headStartedAt == nil {
            switch phase {
            case .idle where !headInBatch && !endInBatch:
                clock.headStartedAt = .now()
            case .proxying where requestComplete && !endInBatch:
                clock.headStartedAt = .now()
            default:
                break
            }
        }
        headInBatch = false
        endInBatch = false
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // A slow client stops the upstream's reads, so a large response is not buffered in memory.
        connection?.holdReads(!context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if clientReadsHeld {
            clientReadPending = true
        } else {
            context.read()
        }
    }

    private func startExchange(_ head: HTTPRequestHead) {
        clientVersion = head.version
        clientKeepAlive = head.isKeepAlive
        isHEAD = head.method == .HEAD
        tries = ExchangeTries(mayResend: shared.resend.mayResend(head.method))
        requestComplete = false
        phase = .proxying
        clock.requestStarted()
        continueSent = false
        expectContinue = false
        let plan: RequestPlan.ForwardPlan
        switch RequestPlan.make(
            head, table: shared.selector.currentTable(), clientIP: clientIP, forwarded: forwardedFor,
            allocator: context?.channel.allocator ?? ByteBufferAllocator()
        ) {
        case .forward(let forward):
            plan = forward
        case .answer(let status, let reason, let close):
            return respondLocally(status, reason, close: close)
        }
        route = plan.route
        expectContinue = plan.expectsContinue
        if expectContinue && clientVersion.major == 1 && clientVersion.minor >= 1, let context {
            // The request has somewhere to go: let the client send its body (RFC 9110 §10.1.1).
            continueSent = true
            context.writeAndFlush(wrapOutboundOut(Self.continueLine), promise: nil)
        }
        upstreamHead = plan.head
        upstreamChunked = plan.framing == .chunked
        startAttempt(plan.upstream, pooled: true)
    }

    private static let continueLine = ByteBuffer(string: "HTTP/1.1 100 Continue\r\n\r\n")

    /// Queues or writes one request part for the current try, keeping a copy while a retry is possible.
    private func forward(_ part: HTTPClientRequestPart, bytes: Int) {
        if tries.bodyKept {
            replayBytes += bytes
            if replayBytes > shared.retryBodyLimit {
                // Too large to keep: this request will not be retried once a try has consumed it.
                tries.bodyDropped()
                if !replay.isEmpty { replay.removeAll(keepingCapacity: true) }
            } else {
                replay.append(part)
            }
        }
        if let connection {
            connection.write(part)
            if case .end = part {
                upstreamNeedsFlush = false
                connection.flush()
                // The upstream has the whole request: the response deadline starts.
                clock.waitSince = .now()
            } else {
                upstreamNeedsFlush = true
            }
        } else {
            pending.append(part)
            pendingBytes += bytes
            updateClientReadHold()
        }
    }

    // MARK: Tries

    private func startAttempt(_ target: Upstream, pooled: Bool) {
        upstream = target
        attempt &+= 1
        if pooled, let idle = pool.takeIdle(target) {
            attach(idle)
            return
        }
        let id = attempt
        let (candidate, connected) = pool.connect(target)
        connected.assumeIsolated().whenComplete { result in
            self.connectCompleted(candidate, attempt: id, result: result)
        }
    }

    private func connectCompleted(_ candidate: UpstreamConnection, attempt id: UInt64, result: Result<any Channel, any Error>) {
        guard id == attempt, case .proxying = phase, connection == nil, let target = upstream else {
            // The exchange moved on (client gone, timeout): a good connection is still worth keeping,
            // unless it goes to an endpoint the table dropped.
            if case .success = result {
                if id == discardedAttempt { candidate.close() } else { pool.release(candidate) }
            }
            return
        }
        switch result {
        case .success:
            attach(candidate)
        case .failure(let error):
            let failure: UpstreamFailure
            if case ChannelError.connectTimeout = error { failure = .connectTimeout } else { failure = .connectFailed }
            shared.hooks.onUpstreamFailure(target, failure)
            // Nothing was written, so every part received so far is still pending.
            carryOut(tries.connectFailed(failure), after: target)
        }
    }

    private func attach(_ connection: UpstreamConnection) {
        self.connection = connection
        tries.attached()
        connection.owner = self
        connection.writeHead(upstreamHead, isHEAD: isHEAD, chunked: upstreamChunked)
        while let part = pending.popFirst() {
            connection.write(part)
        }
        pendingBytes = 0
        connection.flush()
        if let context {
            connection.holdReads(!context.channel.isWritable)
        }
        if requestComplete {
            // The upstream has the whole request: the response deadline starts.
            clock.waitSince = .now()
        }
        updateClientReadHold()
    }

    // MARK: Deadlines

    /// What the connection is waiting for now.
    private var currentWait: ClientWait {
        let exchange: Bool, draining: Bool
        switch phase {
        case .idle, .closed: (exchange, draining) = (false, false)
        case .proxying: (exchange, draining) = (true, false)
        case .draining: (exchange, draining) = (false, true)
        }
        return ClientWait.of(
            exchange: exchange, draining: draining, firstRequest: clock.firstRequest, headStarted: clock.headStartedAt != nil,
            attached: connection != nil, requestComplete: requestComplete, responseStarted: tries.responseStarted
        )
    }

    /// When the current wait ends; nil for a wait another timeout bounds.
    private func deadline(for wait: ClientWait) -> NIODeadline? {
        if wait == .keepAlive && shared.limit.underPressure {
            // Near the connection limit an idle connection makes room sooner: within one check period.
            var timeouts = shared.timeouts
            timeouts.idle = min(timeouts.idle, timeouts.requestHead)
            return clock.deadline(for: wait, timeouts: timeouts)
        }
        return clock.deadline(for: wait, timeouts: shared.timeouts)
    }

    private func armTimer(context: ChannelHandlerContext, now: NIODeadline) {
        guard timer == nil else { return }
        var at = now + shared.timeouts.checkPeriod
        if let deadline = deadline(for: currentWait), deadline < at { at = deadline }
        timer = try? context.eventLoop.assumeIsolated().scheduleCallback(at: at, handler: ConnectionTimer(proxy: self))
    }

    fileprivate func timerFired() {
        timer = nil
        guard let context else { return }
        if case .closed = phase { return }
        let now = NIODeadline.now()
        clock.noticeProgress(now: now)
        let wait = currentWait
        if wait == .response, let perTry = shared.timeouts.perTry, now >= clock.waitSince + perTry,
           let target = upstream, carryOut(tries.giveUp(.perTryTimeout), after: target) {
            armTimer(context: context, now: now)
            return
        }
        if let deadline = deadline(for: wait), now >= deadline {
            expire(wait, context: context)
            if case .closed = phase { return }
        }
        armTimer(context: context, now: now)
    }

    /// Ends a wait whose deadline has passed.
    private func expire(_ wait: ClientWait, context: ChannelHandlerContext) {
        let upstreamHeldBody = clientReadsHeld && !(connection?.isWritable ?? true)
        switch wait.expiry(responseStarted: tries.responseStarted, upstreamHeldBody: upstreamHeldBody) {
        case .none:
            return
        case .close:
            abandonExchange()
            context.close(promise: nil)
        case .answerAndClose(let status):
            if status == .gatewayTimeout {
                if let target = upstream { shared.hooks.onUpstreamFailure(target, .responseTimeout) }
                respondLocally(status, "the upstream did not take the request in time\n", close: true)
            } else if wait == .head {
                respondLocally(status, "the request head did not arrive in time\n", close: true)
            } else {
                respondLocally(status, "the request body did not arrive in time\n", close: true)
            }
        case .answer(let status):
            if let target = upstream { shared.hooks.onUpstreamFailure(target, .responseTimeout) }
            // No retry: the upstream may be processing the request, and a second try could repeat its effect.
            respondLocally(status, "the upstream did not answer in time\n")
        }
    }

    /// Carries out what the try rules decided about a try to `failed` that ended badly or is given up;
    /// returns whether the request went elsewhere.
    @discardableResult
    private func carryOut(_ ending: ExchangeTries.Ending, after failed: Upstream) -> Bool {
        switch ending {
        case .keep:
            return false
        case .closeClient:
            abandonExchange()
            context?.close(promise: nil)
            return false
        case .answer(let status, let text):
            heldHead = nil
            respondLocally(status, text)
            return false
        case .retry(let reason, let otherwise):
            guard let next = route?.pickRetry(excluding: failed) else { return carryOut(otherwise, after: failed) }
            if let connection {
                // Given up while sent: closed without telling this handler (close() drops the owner
                // first); its parts so far come from the replay copy, as after a close before the response.
                self.connection = nil
                connection.close()
                pending = CircularBuffer(replay)
                pendingBytes = replayBytes
            } else if reason == .leftTable {
                // Still connecting: every part is still pending, and startAttempt's new attempt number keeps
                // the late connect away from this exchange; it goes to a dropped endpoint, so it is not pooled.
                discardedAttempt = attempt
            }
            if reason == .leftTable || reason == .perTryTimeout { shared.hooks.onUpstreamFailure(failed, reason) }
            tries.retrying()
            shared.hooks.onRetry(failed.cluster, next.cluster, reason)
            // A fresh connection: a pooled one to the next upstream could be just as stale.
            startAttempt(next, pooled: false)
            updateClientReadHold()
            return true
        }
    }

    /// A table was published: a request waiting on an upstream the table no longer gives weight to is
    /// sent to a live one, if no response byte has come and sending it twice is harmless; otherwise it
    /// is left alone (it gets its answer, or its timeout, as before).
    func tablePublished(live: Set<Upstream>) {
        guard case .proxying = phase, let target = upstream, !tries.responseStarted, !live.contains(target) else { return }
        carryOut(tries.giveUp(.leftTable), after: target)
    }

    // MARK: Upstream side

    func upstreamReceived(_ event: UpstreamResponseEvent, from connection: UpstreamConnection) {
        guard connection === self.connection, let context, let target = upstream else { return }
        switch event {
        case .head(let head):
            tries.responseHead(held: false)
            if !replay.isEmpty { replay.removeAll(keepingCapacity: true) }
            upstreamKeepAlive = head.keepAlive

            var keepAlive = clientKeepAlive && !quiescing
            chunkedToClient = false
            let unknownLength = head.body == .chunked || head.body == .untilClose
            if unknownLength {
                if clientVersion.major == 1 && clientVersion.minor >= 1 {
                    chunkedToClient = true
                } else {
                    // An HTTP/1.0 client cannot read chunked: the body ends where the connection does.
                    keepAlive = false
                }
            }
            closeAfterResponse = !keepAlive
            let cluster = target.cluster
            var smallBody = 0
            if !chunkedToClient, !isHEAD, case .length(let n) = head.body, n <= Self.joinedBodyLimit { smallBody = n }
            let clientHead = ClientResponseHead(
                status: .upstream(head.statusText), fields: head.headerBlock, cluster: cluster,
                framing: chunkedToClient ? .chunked : .upstreamFields, keepAlive: keepAlive
            )
            var out = context.channel.allocator.buffer(capacity: clientHead.estimatedSize + smallBody)
            clientHead.write(clientMinor: clientVersion.minor, into: &out)
            shared.hooks.onResponse(cluster, UInt(head.status))
            shared.hooks.onUpstreamLatency(cluster, .nanoseconds((NIODeadline.now() - clock.waitSince).nanoseconds))
            if smallBody > 0 {
                tries.responseHead(held: true)
                heldHead = out
            } else {
                context.write(wrapOutboundOut(out), promise: nil)
            }
            if !context.channel.isWritable { connection.holdReads(true) }
        case .body(var chunk):
            if isHEAD { return }
            if var held = heldHead {
                // Taken out first so the append does not copy the buffer.
                heldHead = nil
                held.writeBuffer(&chunk)
                heldHead = held
            } else if chunkedToClient {
                guard chunk.readableBytes > 0 else { return }
                var size = context.channel.allocator.buffer(capacity: 18)
                RequestEncoding.writeChunkSize(chunk.readableBytes, into: &size)
                context.write(wrapOutboundOut(size), promise: nil)
                context.write(wrapOutboundOut(chunk), promise: nil)
                context.write(wrapOutboundOut(Self.crlf), promise: nil)
            } else {
                context.write(wrapOutboundOut(chunk), promise: nil)
            }
        case .end:
            finishExchange(connection: connection, context: context)
        }
    }

    /// Bodies up to this size travel in the same buffer as their head.
    private static let joinedBodyLimit = 4096
    private static let crlf = ByteBuffer(string: "\r\n")
    private static let lastChunk = ByteBuffer(string: "0\r\n\r\n")

    func upstreamReadComplete(from connection: UpstreamConnection) {
        guard connection === self.connection, let context else { return }
        clock.progress &+= 1
        // A held head waits for the rest of its small body (at most joinedBodyLimit bytes), so an
        // upstream failing before then still lets the client have a clean 502.
        if heldHead == nil { context.flush() }
    }

    func upstreamWritabilityChanged(_ connection: UpstreamConnection, isWritable: Bool) {
        guard connection === self.connection else { return }
        updateClientReadHold()
    }

    func upstreamClosed(_ connection: UpstreamConnection) {
        guard connection === self.connection, let target = upstream else { return }
        self.connection = nil
        let ending = tries.upstreamClosed()
        shared.hooks.onUpstreamFailure(target, tries.responseStarted ? .closedMidResponse : .closedBeforeResponse)
        if case .retry = ending {
            // The head is rewritten by attach; the body parts so far come from the replay copy.
            pending = CircularBuffer(replay)
            pendingBytes = replayBytes
        }
        carryOut(ending, after: target)
    }

    private func finishExchange(connection: UpstreamConnection, context: ChannelHandlerContext) {
        self.connection = nil
        if upstreamKeepAlive && requestComplete && pending.isEmpty {
            pool.release(connection)
        } else {
            // The upstream answered before taking the whole request: the connection's framing is lost.
            connection.close()
        }
        let close = closeAfterResponse
        let terminator = chunkedToClient ? Self.lastChunk : heldHead
        endExchange()
        writeEnd(terminator, close: close, context: context)
    }

    // MARK: Exchange bookkeeping

    /// Answers the current request with the proxy's own response; `close` ends the connection after it.
    private func respondLocally(_ status: HTTPResponseStatus, _ text: StaticString, close: Bool = false) {
        guard let context else { return }
        if let connection {
            // The upstream connection's exchange is cut short: its framing is lost.
            self.connection = nil
            connection.close()
        }
        shared.hooks.onResponse(nil, status.code)
        // A client that sent `Expect: 100-continue` and got no 100 may or may not send its body: only
        // closing leaves no doubt about where the next request starts.
        let unsentBody = expectContinue && !continueSent && !requestComplete
        let close = close || unsentBody || !clientKeepAlive || quiescing
        let head = ClientResponseHead(status: .local(status), framing: .plainText(length: text.utf8CodeUnitCount), keepAlive: !close)
        var out = context.channel.allocator.buffer(capacity: head.estimatedSize + text.utf8CodeUnitCount)
        head.write(clientMinor: clientVersion.minor, into: &out)
        if !isHEAD { out.writeStaticString(text) }
        endExchange()
        writeEnd(out, close: close, context: context)
    }

    /// Writes the last bytes of a response and flushes; then closes, or moves on to a pipelined request.
    private func writeEnd(_ last: ByteBuffer?, close: Bool, context: ChannelHandlerContext) {
        if close || quiescing {
            abandonExchange()
            // Close only once everything before has been written: an empty write's promise says so.
            let last = last ?? context.channel.allocator.buffer(capacity: 0)
            context.writeAndFlush(wrapOutboundOut(last)).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        } else {
            if let last { context.write(wrapOutboundOut(last), promise: nil) }
            context.flush()
            if !pipelined.isEmpty { deliverPipelined() }
        }
    }

    /// Resets per-request state after the response ended; the rest of a request body still coming is dropped.
    private func endExchange() {
        phase = requestComplete ? .idle : .draining
        resetTry()
        updateClientReadHold()
        // The keep-alive wait, or the drain of an early-answered body, starts now.
        clock.waitSince = .now()
    }

    /// Drops the current exchange for good (client gone or connection being closed).
    private func abandonExchange() {
        phase = .closed
        timer?.cancel()
        timer = nil
        if let connection {
            self.connection = nil
            connection.close()
        }
        resetTry()
        if !pipelined.isEmpty { pipelined.removeAll() }
        clientReadsHeld = false
    }

    private func resetTry() {
        attempt &+= 1
        upstream = nil
        route = nil
        // Keeping capacity matters: removeAll() would allocate fresh storage on every request.
        if !pending.isEmpty { pending.removeAll(keepingCapacity: true) }
        pendingBytes = 0
        if !replay.isEmpty { replay.removeAll(keepingCapacity: true) }
        replayBytes = 0
        tries = ExchangeTries(mayResend: false)
        heldHead = nil
    }

    /// Reads from the client only while the request has somewhere to go: the upstream connection is
    /// writable, or the queue for a connection being opened is still small.
    private func updateClientReadHold() {
        let hold: Bool
        if pipelined.count > 64 {
            // A client pipelining far ahead waits for its earlier answers.
            hold = true
        } else if case .proxying = phase {
            if let connection {
                hold = !connection.isWritable
            } else {
                hold = pendingBytes > shared.retryBodyLimit
            }
        } else {
            hold = false
        }
        guard hold != clientReadsHeld else { return }
        clientReadsHeld = hold
        if !hold, clientReadPending, let context {
            clientReadPending = false
            context.read()
        }
    }
}

/// The timer of one client connection; it holds the handler until it fires or is cancelled.
private struct ConnectionTimer: NIOScheduledCallbackHandler {
    let proxy: ProxyHandler

    func handleScheduledCallback(eventLoop: some EventLoop) {
        proxy.timerFired()
    }
}
