// One client connection of the proxy: checks and routes each request, streams it to an upstream connection of the
// same event loop, streams the response back, and retries once when the upstream connection fails before answering.
// The decisions are ProxyExchange's (a pure state machine); this handler carries them out. Everything runs on the
// connection's loop, so no state is shared.
import NIOCore
import NIOHTTP1

/// The NIO shell of one client connection: it feeds the connection's events to its ``ProxyExchange`` and carries out
/// what the exchange decides (connects, writes, answers, closes, timers). What it keeps itself is what a pure value
/// cannot: the channels, the response on its way (``ClientResponseStream``) and the timer.
///
/// Its stored state, and that of ``UpstreamConnection`` and ``UpstreamPool``, is `@exclusivity(unchecked)`: the
/// runtime's check of each access (about 75 instructions, some 30 a request over the three classes, 4% of a proxied
/// request, callgrind) guards nothing here. Every access is a load, a store, or a mutating call into pure value code
/// (``ProxyExchange``, ``ResponseParser``, ``LazyQueue``, the pool's lists) that cannot call back into a handler,
/// so no two accesses to one property can overlap; all of it runs on the connection's own event loop. A
/// change that held an access across a call out (a stored property passed `inout` to a closure that reaches a
/// handler) must drop the attribute from that property.
final class ProxyHandler: ChannelDuplexHandler, UpstreamConnectionOwner {
    /// The client's bytes: requests are read here (``RequestParser``), not by a decoder ahead in the pipeline.
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    /// Responses are written as bytes: proxied heads are spliced from the upstream's own bytes.
    typealias OutboundOut = ByteBuffer

    private let shared: ProxyShared
    private let pool: UpstreamPool
    /// This loop's client connections, which this one joins while it lives (for table publications and deadlines).
    private let clients: LoopClients
    @exclusivity(unchecked) private var context: ChannelHandlerContext?
    /// The client's address as `X-Forwarded-For` and `Forwarded` name it; fixed per connection.
    @exclusivity(unchecked) private var client = (clientIP: "unknown", forwarded: "for=unknown")

    /// The exchange's state and rules.
    @exclusivity(unchecked) private var exchange: ProxyExchange
    /// Reads the client's requests; bytes of a head or chunk line not complete yet wait in `unreadRequestBytes`.
    @exclusivity(unchecked) private var parser = RequestParser()
    @exclusivity(unchecked) private var unreadRequestBytes: ByteBuffer?
    /// The upstream connection of the current try once connected.
    @exclusivity(unchecked) private var connection: UpstreamConnection?
    /// Bumped whenever a try ends, so late connects of an earlier try do nothing.
    @exclusivity(unchecked) private var attempt: UInt64 = 0
    /// A try given up while still connecting to an endpoint the table dropped: its late connection
    /// is closed rather than pooled.
    @exclusivity(unchecked) private var discardedAttempt: UInt64?
    /// The current response's bytes to the client.
    @exclusivity(unchecked) private var response = ClientResponseStream()
    /// When the exchange's deadlines are checked next (the loop's sweep looks every tick: LoopClients); nil once the
    /// connection is done. It is not moved per request: it is set at most the shortest timeout ahead
    /// (ClientTimeouts.checkPeriod), so it never comes after a deadline set later, and it is set again after each check,
    /// whatever the state.
    @exclusivity(unchecked) private var checkAt: NIODeadline?
    /// The client's reads, held while the exchange says so (ProxyExchange.holdsClientReads).
    @exclusivity(unchecked) private var clientReads = ReadHold()
    /// Request parts that arrived while an earlier request's response was still due. No storage until the first:
    /// most clients never pipeline.
    @exclusivity(unchecked) private var pipelined = LazyQueue<HTTPServerRequestPart>()
    /// Request bytes were written upstream since the last flush; flushed once per read batch.
    @exclusivity(unchecked) private var upstreamNeedsFlush = false
    /// Between a client read and the end of its batch: upstream writes wait for channelReadComplete,
    /// so a request whose head and end arrive together is flushed once, not once per part.
    @exclusivity(unchecked) private var inClientReadBatch = false

    init(shared: ProxyShared, pool: UpstreamPool, clients: LoopClients) {
        self.shared = shared
        self.pool = pool
        self.clients = clients
        self.exchange = ProxyExchange(timeouts: shared.timeouts, retryBodyLimit: shared.retryBodyLimit, now: .now(),
                                      unreachable: shared.unreachable)
    }

    // MARK: Client side

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        clients.add(self)
        let now = NIODeadline.now()
        exchange.clock = ClientClock(now: now)
        scheduleCheck(now: now)
        client = context.channel.remoteAddress?.forwardingNames ?? client
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        abandonExchange()
        clients.remove(self)
        // The connection's place under the limit, taken before this handler was added (`WeightedProxy.start`).
        shared.limit.release()
        unreadRequestBytes = nil
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        abandonExchange()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Resets and the like: the connection is unusable.
        abandonExchange()
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = HTTPBytes.afterUnread(&unreadRequestBytes, unwrapInboundIn(data))
        inClientReadBatch = true
        do {
            while !exchange.isClosed, let part = try parser.next(&bytes) { received(part) }
        } catch {
            requestUnreadable(error as? RequestParseError ?? .malformedRequestLine, context: context)
            return
        }
        if !exchange.isClosed { unreadRequestBytes = HTTPBytes.unread(bytes) }
    }

    /// A request that does not parse gets 400 (431, 505) when no response is under way; the connection closes.
    private func requestUnreadable(_ error: RequestParseError, context: ChannelHandlerContext) {
        guard exchange.canAnswerParseError else {
            closeClient()
            return
        }
        let out = ClientResponseHead.answer(error.status, text: "", keepAlive: false, clientMinor: 1, isHEAD: false,
                                            allocator: context.channel.allocator)
        closeAfterWriting(out, context: context)
        shared.hooks.onResponse(nil, error.status.code)
    }

    private func received(_ part: HTTPServerRequestPart) {
        exchange.partRead(part)
        // Pipelined requests wait, in order, until the response before them is complete. (This
        // replaces NIO's HTTPServerPipelineHandler, which stops and restarts reading around every
        // request: two epoll_ctl calls per request on the hot path.)
        if !pipelined.isEmpty || exchange.mustWait(part) {
            pipelined.append(part)
            updateClientReadHold()
            return
        }
        handle(part)
    }

    private func handle(_ part: HTTPServerRequestPart) {
        switch part {
        case .head(let head):
            // Not idle only while closing: the parser never sends a head inside a request.
            guard exchange.isIdle else { return }
            startExchange(head)
        case .body(let chunk):
            let part = HTTPClientRequestPart.body(.byteBuffer(chunk))
            forward(part, exchange.requestPart(part, bytes: chunk.readableBytes))
        case .end(let trailers):
            switch exchange.requestEnded(trailers, now: .now()) {
            case .forward(let forwarding):
                forward(.end(trailers), forwarding)
            case .drained(let closeNow):
                if closeNow { closeClient() }
            case .ignore:
                break
            }
        }
    }

    /// Hands waiting pipelined parts over once the exchange before them has ended.
    private func deliverPipelined() {
        while let part = pipelined.first, !exchange.mustWait(part) {
            _ = pipelined.popFirst()
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
        if exchange.quiesce() { closeClient() }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        inClientReadBatch = false
        flushUpstream()
        if exchange.readBatchEnded() { exchange.clock.headStartedAt = .now() }
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // A slow client stops the upstream's reads, so a large response is not buffered in memory.
        connection?.holdReads(!context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if clientReads.admit() { context.read() }
    }

    private func startExchange(_ head: HTTPRequestHead) {
        // The parser decided keep-alive for the last head it read. A later head waiting in `pipelined` means this
        // one kept the connection open (nothing is read after a connection's last request).
        let laterHeadWaits = pipelined.contains { if case .head = $0 { true } else { false } }
        exchange.requestStarted(
            head, keepAlive: laterHeadWaits || !parser.lastRequest, mayResend: shared.resend.mayResend(head.method))
        switch RequestPlan.make(
            head, table: shared.selector.currentTable(), clientIP: client.clientIP, forwarded: client.forwarded,
            allocator: context?.channel.allocator ?? ByteBufferAllocator(), pin: shared.pin
        ) {
        case .forward(let plan):
            if exchange.routed(plan), let context {
                context.writeAndFlush(wrapOutboundOut(ClientResponseHead.continueLine), promise: nil)
            }
            startAttempt(plan.upstream, pooled: true)
        case .answer(let status, let reason, let close):
            respondLocally(status, reason, close: close)
        }
    }

    /// Writes one request part to the current try, or lets the read hold follow the queue it joined.
    private func forward(_ part: HTTPClientRequestPart, _ forwarding: ProxyExchange.Forwarding) {
        switch forwarding {
        case .drop:
            return
        case .queued:
            updateClientReadHold()
        case .write:
            guard let connection else { return }
            connection.write(part)
            upstreamNeedsFlush = true
            // Parts handed over later (pipelined, after a response) have no read batch end to wait for.
            if case .end = part, !inClientReadBatch { flushUpstream() }
        }
    }

    private func flushUpstream() {
        guard upstreamNeedsFlush else { return }
        upstreamNeedsFlush = false
        connection?.flush()
    }

    // MARK: Tries

    private func startAttempt(_ target: Upstream, pooled: Bool) {
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
        guard id == attempt, connection == nil, let target = exchange.upstream else {
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
            shared.unreachable.note(target)
            // Nothing was written, so every part received so far is still pending.
            carryOut(exchange.connectFailed(failure))
        }
    }

    private func attach(_ connection: UpstreamConnection) {
        self.connection = connection
        _ = exchange.attached(now: .now())
        connection.owner = self
        if let first = exchange.upstreamHeadToWrite {
            connection.writeHead(first.head, isHEAD: first.isHEAD, chunked: first.chunked)
        }
        while let part = exchange.popPending() {
            connection.write(part)
        }
        upstreamNeedsFlush = true
        if !inClientReadBatch { flushUpstream() }
        if let context {
            connection.holdReads(!context.channel.isWritable)
        }
        updateClientReadHold()
    }

    /// Carries out what the exchange decided about a try that ended badly or was given up.
    private func carryOut(_ outcome: ProxyExchange.TryOutcome) {
        switch outcome {
        case .keep:
            return
        case .closeClient:
            closeClient()
        case .answer(let status, let text):
            response.discard()
            respondLocally(status, text)
        case .retry(let failed, let next, let reason):
            if let connection {
                // Given up while sent: closed without telling this handler (close() drops the owner
                // first); its parts so far come from the replay copy, as after a close before the response.
                self.connection = nil
                connection.close()
            } else if reason == .leftTable {
                // Still connecting: every part is still pending, and startAttempt's new attempt number keeps
                // the late connect away from this exchange; it goes to a dropped endpoint, so it is not pooled.
                discardedAttempt = attempt
            }
            if reason == .leftTable || reason == .perTryTimeout { shared.hooks.onUpstreamFailure(failed, reason) }
            shared.hooks.onRetry(failed.cluster, next.cluster, reason)
            // A fresh connection: a pooled one to the next upstream could be just as stale.
            startAttempt(next, pooled: false)
            updateClientReadHold()
        }
    }

    /// A table was published: the exchange decides whether a request waiting on a dropped upstream moves.
    func tablePublished(live: Set<Upstream>) {
        carryOut(exchange.tablePublished(live: live))
    }

    // MARK: Deadlines

    private func scheduleCheck(now: NIODeadline) {
        guard checkAt == nil else { return }
        checkAt = exchange.nextCheck(now: now, underPressure: shared.limit.underPressure)
    }

    /// The loop's sweep: acts on the exchange's deadlines once their check is due.
    func checkDeadlines(now: NIODeadline) {
        guard let at = checkAt, now >= at else { return }
        checkAt = nil
        guard let context else { return }
        guard !exchange.isClosed else {
            // The last bytes of a closing connection were not taken in time (closeAfterWriting).
            context.close(promise: nil)
            return
        }
        let upstreamHeldBody = clientReads.isHeld && !(connection?.isWritable ?? true)
        switch exchange.timerFired(now: now, underPressure: shared.limit.underPressure, upstreamHeldBody: upstreamHeldBody) {
        case .rearm:
            break
        case .tryGivenUp(let outcome):
            carryOut(outcome)
        case .close:
            closeClient()
            return
        case .answer(let status, let text, let close, let failed):
            if let failed { shared.hooks.onUpstreamFailure(failed, .responseTimeout) }
            respondLocally(status, text, close: close)
            if exchange.isClosed { return }
        }
        scheduleCheck(now: now)
    }

    // MARK: Upstream side

    func upstreamReceived(_ event: UpstreamResponseEvent, from connection: UpstreamConnection) {
        guard connection === self.connection, let context else { return }
        switch event {
        case .head(let head):
            guard let start = exchange.responseHead(head, now: .now()) else { return }
            var out = context.channel.allocator.buffer(capacity: start.head.estimatedSize + start.heldBodyLength)
            start.head.write(clientMinor: start.clientMinor, into: &out)
            let cluster = start.head.cluster ?? ""
            shared.hooks.onResponse(cluster, UInt(head.status))
            shared.hooks.onUpstreamLatency(cluster, .nanoseconds(start.waited.nanoseconds))
            if let outcome = shared.hooks.onUpstreamResponse, let upstream = exchange.upstream {
                outcome(upstream, UInt(head.status))
            }
            response.head(out, heldBodyLength: start.heldBodyLength, context: context)
            if !context.channel.isWritable { connection.holdReads(true) }
        case .body(var chunk):
            response.body(&chunk, framing: exchange.responseBodyFraming, context: context)
        case .end:
            finishExchange(connection: connection, context: context)
        }
    }

    func upstreamReadComplete(from connection: UpstreamConnection) {
        guard connection === self.connection, let context else { return }
        exchange.clock.progress &+= 1
        // A held head waits for the rest of its small body (at most joinedBodyLimit bytes), so an
        // upstream failing before then still lets the client have a clean 502.
        if !response.holdsHead { context.flush() }
    }

    func upstreamWritabilityChanged(_ connection: UpstreamConnection, isWritable: Bool) {
        guard connection === self.connection else { return }
        updateClientReadHold()
    }

    func upstreamClosed(_ connection: UpstreamConnection) {
        guard connection === self.connection, let target = exchange.upstream else { return }
        self.connection = nil
        guard let (failure, outcome) = exchange.upstreamClosed() else { return }
        shared.hooks.onUpstreamFailure(target, failure)
        carryOut(outcome)
    }

    private func finishExchange(connection: UpstreamConnection, context: ChannelHandlerContext) {
        self.connection = nil
        guard let end = exchange.responseEnded(now: .now()) else {
            // An end without a head: the parser never sends one, but the connection's framing would be lost.
            return connection.close()
        }
        if end.reuseUpstream {
            pool.release(connection)
        } else {
            // The upstream answered before taking the whole request: the connection's framing is lost.
            connection.close()
        }
        let terminator = response.end(lastChunk: end.lastChunk)
        resetTry()
        updateClientReadHold()
        writeEnd(terminator, close: end.close, context: context)
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
        let answer = exchange.answer(status, close: close, now: .now())
        let out = ClientResponseHead.answer(status, text: text, keepAlive: !answer.close, clientMinor: answer.clientMinor,
                                            isHEAD: answer.isHEAD, allocator: context.channel.allocator)
        resetTry()
        updateClientReadHold()
        writeEnd(out, close: answer.close, context: context)
    }

    /// Writes the last bytes of a response and flushes; then closes, or moves on to a pipelined request.
    private func writeEnd(_ last: ByteBuffer?, close: Bool, context: ChannelHandlerContext) {
        if close {
            closeAfterWriting(last ?? context.channel.allocator.buffer(capacity: 0), context: context)
        } else {
            if let last { context.write(wrapOutboundOut(last), promise: nil) }
            context.flush()
            if !pipelined.isEmpty { deliverPipelined() }
        }
    }

    /// Drops the exchange, writes `last` and closes once everything before it has been written (its promise says so).
    /// A client that never takes those bytes, its window shut, is cut off after the response timeout; otherwise the
    /// connection, and its place under the limit, would last as long as the client kept answering window probes.
    private func closeAfterWriting(_ last: ByteBuffer, context: ChannelHandlerContext) {
        abandonExchange()
        checkAt = .now() + shared.timeouts.response
        context.writeAndFlush(wrapOutboundOut(last)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    /// Drops the exchange and closes the client connection.
    private func closeClient() {
        abandonExchange()
        context?.close(promise: nil)
    }

    /// Drops the current exchange for good (client gone or connection being closed).
    private func abandonExchange() {
        exchange.clientClosed()
        checkAt = nil
        if let connection {
            self.connection = nil
            connection.close()
        }
        resetTry()
        if !pipelined.isEmpty { pipelined.removeAll() }
        clientReads.end()
    }

    /// Forgets the held head of the current try; a bumped attempt number keeps late connects away.
    private func resetTry() {
        attempt &+= 1
        response.discard()
    }

    /// Holds or releases the client's reads as the exchange decides (ProxyExchange.holdsClientReads).
    private func updateClientReadHold() {
        // The arguments first: evaluated inside the call, they could touch `exchange`, so the call would read a copy
        // of it (every string and buffer of the request retained and released).
        let (waiting, writable) = (pipelined.count, connection?.isWritable)
        let hold = exchange.holdsClientReads(pipelined: waiting, upstreamWritable: writable)
        guard hold != clientReads.isHeld else { return }
        if clientReads.hold(hold), let context { context.read() }
    }
}
