// The exchanges of one proxy client connection as a pure state machine: which request is under way,
// how far its try got, what the response's framing is, and what to do at every event (a request part,
// the upstream's connect, head, end or close, a table published, a deadline passed). It touches no
// Channel, no event loop and no clock: times come in as arguments, and each event returns what the
// handler (ProxyHandler) must do. AsyncHTTPClient's HTTP1ConnectionStateMachine has the same shape.
import NIOCore
import NIOHTTP1

/// One client connection's exchanges, one at a time.
struct ProxyExchange {
    /// Where the connection is.
    enum Phase {
        /// Waiting for a request head.
        case idle
        /// A request (``request``) is on its way to an upstream, or its response on its way back.
        case exchange
        /// The response is complete but the request body is still arriving: read and drop it.
        case draining
        /// The client connection is closing or gone.
        case closed
    }

    /// The request under way.
    struct Request {
        var clientVersion: HTTPVersion
        var clientKeepAlive: Bool
        var isHEAD: Bool
        /// How far the current try got, and whether the request may still go elsewhere.
        var tries: ExchangeTries
        /// The route in the table the request took (its retry picks there too); nil until routed.
        var route: RouteHandle?
        /// The upstream of the current try; nil until routed.
        var upstream: Upstream?
        /// The request head as every try writes it, encoded once; nil until routed.
        var upstreamHead: ByteBuffer?
        var upstreamChunked = false
        /// Whether the request's body waits for `100 Continue`, and whether the proxy sent it.
        var bodyWait = BodyWait.none
        /// The request's end arrived from the client.
        var complete = false
        /// Set once the response head arrived.
        var response: ResponseFraming?

        /// The upstream connection of the current try is open and has the request (or part of it).
        var attached: Bool { tries.stage != .connecting }
    }

    /// A request body and `Expect: 100-continue`.
    enum BodyWait: Equatable {
        /// The client sends its body, if any, without waiting.
        case none
        /// The proxy sent `100 Continue`: the body follows.
        case continueSent
        /// The client waits for a `100 Continue` the proxy did not send (an HTTP/1.0 client): the
        /// body may or may not follow.
        case continueWithheld
    }

    /// How the current response travels to the client, decided at its head.
    struct ResponseFraming {
        var upstreamKeepAlive: Bool
        var closeAfterResponse: Bool
        /// The body is re-framed as chunked for the client (the upstream's length was unknown).
        var chunkedToClient: Bool
    }

    private(set) var phase = Phase.idle
    /// The request under way: set exactly while ``phase`` is ``Phase/exchange``, so no stale field of an earlier
    /// request can be read. Kept beside the phase rather than in an enum payload, so that its fields change in
    /// place: a payload is copied out and written back at every event, retaining and releasing each of its
    /// buffers (four copies and destroys a request, ~2 k instructions, 4% of a proxied request).
    private(set) var request: Request?
    /// Set by shutdown: no further request on this connection.
    private(set) var quiescing = false
    /// When the current wait began, and the progress its deadline may run from.
    var clock: ClientClock
    let timeouts: ClientTimeouts
    /// Body bytes kept for a replay at most, and queued for a connection being opened at most.
    let retryBodyLimit: Int
    /// Endpoints the proxy could not connect to a moment ago: a retry avoids them where it can.
    let unreachable: UnreachableUpstreams?
    /// Request parts not yet written to the current try (it is still connecting), and their body bytes.
    /// (No storage until the first: a pooled connection is attached at once, and nothing waits.)
    private var pending = LazyQueue<HTTPClientRequestPart>()
    private(set) var pendingBytes = 0
    /// Request parts already written, kept while a retry is still possible, and their body bytes.
    private var replay: [HTTPClientRequestPart] = []
    private var replayBytes = 0
    /// A request head, or a request's end, was read in the current read batch (to tell whether a
    /// batch that completed nothing began a new head).
    private var headInBatch = false
    private var endInBatch = false
    /// How the current response's body parts go to the client; kept apart from ``Request`` because
    /// it is read for every body part.
    private(set) var responseBodyFraming = BodyFraming.drop

    init(timeouts: ClientTimeouts, retryBodyLimit: Int, now: NIODeadline, unreachable: UnreachableUpstreams? = nil) {
        self.timeouts = timeouts
        self.retryBodyLimit = retryBodyLimit
        self.unreachable = unreachable
        self.clock = ClientClock(now: now)
    }

    /// The upstream of the request under way, if chosen.
    var upstream: Upstream? { request?.upstream }

    /// What the upstream connection writes first for the request under way, once it has an upstream head.
    var upstreamHeadToWrite: (head: ByteBuffer, isHEAD: Bool, chunked: Bool)? {
        guard let head = request?.upstreamHead else { return nil }
        return (head, request!.isHEAD, request!.upstreamChunked)
    }

    var isIdle: Bool { phase == .idle }
    var isClosed: Bool { phase == .closed }
    var isExchanging: Bool { phase == .exchange }

    // MARK: Client events

    /// A request part was read from the client (before it is handled: pipelined parts wait).
    mutating func partRead(_ part: HTTPServerRequestPart) {
        switch part {
        case .head: headInBatch = true
        case .body: clock.progress &+= 1
        case .end: endInBatch = true
        }
    }

    /// Pipelined requests wait, in order, until the response before them is complete.
    func mustWait(_ part: HTTPServerRequestPart) -> Bool {
        if case .head = part, isExchanging { return true }
        return false
    }

    /// Whether to stop reading from the client: reads go on only while the request has somewhere to
    /// go (the upstream connection is writable, or the queue for a connection being opened is still
    /// small). `upstreamWritable` is nil while no upstream connection is attached.
    func holdsClientReads(pipelined: Int, upstreamWritable: Bool?) -> Bool {
        // A client pipelining far ahead waits for its earlier answers.
        if pipelined > 64 { return true }
        guard isExchanging else { return false }
        if let upstreamWritable { return !upstreamWritable }
        return pendingBytes > retryBodyLimit
    }

    /// A read batch ended; returns whether it began the next request head (whose deadline runs from
    /// now): it completed no head while none was under way, or it came after the request's end.
    mutating func readBatchEnded() -> Bool {
        defer { (headInBatch, endInBatch) = (false, false) }
        guard clock.headStartedAt == nil else { return false }
        switch phase {
        case .idle: return !headInBatch && !endInBatch
        case .exchange: return request?.complete == true && !endInBatch
        case .draining, .closed: return false
        }
    }

    /// A request head arrived while idle: the exchange begins (it is routed next, or answered). `keepAlive`: the head
    /// keeps the connection open (the request parser decided it).
    mutating func requestStarted(_ head: HTTPRequestHead, keepAlive: Bool, mayResend: Bool) {
        // A pattern, not `==`: HTTPMethod compares its raw strings.
        let isHEAD = if case .HEAD = head.method { true } else { false }
        request = Request(
            clientVersion: head.version, clientKeepAlive: keepAlive, isHEAD: isHEAD,
            tries: ExchangeTries(mayResend: mayResend)
        )
        phase = .exchange
        clock.requestStarted()
    }

    /// The request has a route and an upstream; returns whether to send `100 Continue` now (the
    /// request has somewhere to go, so the client may send its body: RFC 9110 §10.1.1).
    mutating func routed(_ plan: RequestPlan.ForwardPlan) -> Bool {
        guard request != nil else { return false }
        request!.route = plan.route
        request!.upstream = plan.upstream
        request!.upstreamHead = plan.head
        request!.upstreamChunked = plan.framing == .chunked
        guard plan.expectsContinue else { return false }
        let version = request!.clientVersion
        request!.bodyWait = version.major == 1 && version.minor >= 1 ? .continueSent : .continueWithheld
        return request!.bodyWait == .continueSent
    }

    /// A body part (`bytes` bytes of body), or the end, of the request arrived; a copy is kept while
    /// a retry is possible.
    mutating func requestPart(_ part: HTTPClientRequestPart, bytes: Int) -> Forwarding {
        guard request != nil else { return .drop }
        if request!.tries.bodyKept {
            replayBytes += bytes
            if replayBytes > retryBodyLimit {
                // Too large to keep: this request will not be retried once a try has consumed it.
                request!.tries.bodyDropped()
                if !replay.isEmpty { replay.removeAll(keepingCapacity: true) }
            } else {
                replay.append(part)
            }
        }
        if request!.attached { return .write }
        pending.append(part)
        pendingBytes += bytes
        return .queued
    }

    /// The next request part waiting for the connection just attached.
    mutating func popPending() -> HTTPClientRequestPart? {
        pending.popFirst()
    }

    /// The request's end arrived; `now` is read only when the upstream has the whole request then.
    mutating func requestEnded(_ trailers: HTTPHeaders?, now: @autoclosure () -> NIODeadline) -> RequestEnd {
        switch phase {
        case .exchange:
            request!.complete = true
            let forwarding = requestPart(.end(trailers), bytes: 0)
            // The upstream has the whole request: the response deadline starts.
            if case .write = forwarding { clock.waitSince = now() }
            return .forward(forwarding)
        case .draining:
            phase = .idle
            clock.waitSince = now()
            return .drained(closeNow: quiescing)
        case .idle, .closed:
            return .ignore
        }
    }

    /// Shutdown began; returns whether to close now (idle) rather than after the current response.
    mutating func quiesce() -> Bool {
        quiescing = true
        return isIdle
    }

    /// Whether a request that does not parse can get a 400: no response is under way.
    var canAnswerParseError: Bool {
        switch phase {
        case .idle: return true
        case .exchange: return request?.tries.responseStarted == false && request?.attached == false
        case .draining, .closed: return false
        }
    }

    /// The client connection is closing or gone: the exchange is dropped for good.
    mutating func clientClosed() {
        phase = .closed
        request = nil
        resetTry()
    }

    // MARK: Upstream events

    /// The try's connection is open and has the request so far; returns whether the request is
    /// complete (then its response deadline starts now).
    mutating func attached(now: @autoclosure () -> NIODeadline) -> Bool {
        guard request != nil else { return false }
        request!.tries.attached()
        pendingBytes = 0
        let complete = request!.complete
        if complete { clock.waitSince = now() }
        return complete
    }

    /// The connect of the current try failed.
    mutating func connectFailed(_ failure: UpstreamFailure) -> TryOutcome {
        guard let tries = request?.tries else { return .keep }
        return resolve(tries.connectFailed(failure))
    }

    /// The upstream connection of the current try closed; `failure` says how, for the hooks.
    mutating func upstreamClosed() -> (failure: UpstreamFailure, outcome: TryOutcome)? {
        guard let tries = request?.tries else { return nil }
        let failure: UpstreamFailure = tries.responseStarted ? .closedMidResponse : .closedBeforeResponse
        return (failure, resolve(tries.upstreamClosed()))
    }

    /// A table was published: a request waiting on an upstream the table no longer gives weight to is
    /// sent to a live one, if no response byte has come and sending it twice is harmless; otherwise it
    /// is left alone (it gets its answer, or its timeout, as before).
    mutating func tablePublished(live: Set<Upstream>) -> TryOutcome {
        guard let target = request?.upstream, let tries = request?.tries, !tries.responseStarted, !live.contains(target) else {
            return .keep
        }
        return resolve(tries.giveUp(.leftTable))
    }

    /// Bodies up to this size travel in the same buffer as their head (one write, not writev).
    static let joinedBodyLimit = 4096

    /// The response head of the current try arrived: how it goes to the client.
    mutating func responseHead(_ head: UpstreamResponseHead, now: NIODeadline) -> ResponseStart? {
        guard let target = request?.upstream else { return nil }
        let (version, isHEAD) = (request!.clientVersion, request!.isHEAD)
        var keepAlive = request!.clientKeepAlive && !quiescing
        var chunkedToClient = false
        if head.body == .chunked || head.body == .untilClose {
            if version.major == 1 && version.minor >= 1 {
                chunkedToClient = true
            } else {
                // An HTTP/1.0 client cannot read chunked: the body ends where the connection does.
                keepAlive = false
            }
        }
        var smallBody = 0
        if !chunkedToClient, !isHEAD, case .length(let n) = head.body, n <= Self.joinedBodyLimit { smallBody = n }
        request!.tries.responseHead(held: smallBody > 0)
        request!.response = ResponseFraming(upstreamKeepAlive: head.keepAlive, closeAfterResponse: !keepAlive, chunkedToClient: chunkedToClient)
        responseBodyFraming = isHEAD ? .drop : chunkedToClient ? .chunked : .asIs
        if !replay.isEmpty { replay.removeAll(keepingCapacity: true) }
        replayBytes = 0
        let clientHead = ClientResponseHead(
            status: .upstream(head.statusText), fields: head.headerBlock, cluster: target.cluster,
            framing: chunkedToClient ? .chunked : .upstreamFields, keepAlive: keepAlive
        )
        return ResponseStart(head: clientHead, clientMinor: version.minor, heldBodyLength: smallBody, waited: now - clock.waitSince)
    }


    /// The response ended; the exchange is over (or drains the rest of the request body).
    mutating func responseEnded(now: NIODeadline) -> ResponseEnd? {
        guard let response = request?.response, let complete = request?.complete else { return nil }
        let end = ResponseEnd(
            reuseUpstream: response.upstreamKeepAlive && complete && pending.isEmpty,
            lastChunk: response.chunkedToClient, close: response.closeAfterResponse || quiescing
        )
        endExchange(now: now)
        return end
    }

    /// The proxy answers the request itself; the exchange is over (or drains the rest of the body).
    mutating func answer(_ status: HTTPResponseStatus, close: Bool = false, now: NIODeadline) -> LocalAnswer {
        var answer = LocalAnswer(status: status, close: close || quiescing, clientMinor: 1, isHEAD: false)
        if let request {
            // A client that sent `Expect: 100-continue` and got no 100 may or may not send its body: only
            // closing leaves no doubt about where the next request starts.
            let unsentBody = request.bodyWait == .continueWithheld && !request.complete
            answer.close = answer.close || unsentBody || !request.clientKeepAlive
            answer.clientMinor = request.clientVersion.minor
            answer.isHEAD = request.isHEAD
            endExchange(now: now)
        }
        return answer
    }

    // MARK: Deadlines

    /// What the connection is waiting for now.
    var currentWait: ClientWait {
        let exchange: Bool, draining: Bool
        var attached = false, complete = false, responseStarted = false
        switch phase {
        case .idle, .closed: (exchange, draining) = (false, false)
        case .exchange:
            (exchange, draining) = (true, false)
            if let tries = request?.tries, let done = request?.complete { (attached, complete, responseStarted) = (tries.stage != .connecting, done, tries.responseStarted) }
        case .draining: (exchange, draining) = (false, true)
        }
        return ClientWait.of(
            exchange: exchange, draining: draining, firstRequest: clock.firstRequest, headStarted: clock.headStartedAt != nil,
            attached: attached, requestComplete: complete, responseStarted: responseStarted
        )
    }

    /// When the current wait ends; nil for a wait another timeout bounds. `underPressure`: near the
    /// connection limit an idle connection makes room sooner, within one check period.
    func deadline(for wait: ClientWait, underPressure: Bool) -> NIODeadline? {
        if wait == .keepAlive && underPressure {
            var timeouts = timeouts
            timeouts.idle = min(timeouts.idle, timeouts.requestHead)
            return clock.deadline(for: wait, timeouts: timeouts)
        }
        return clock.deadline(for: wait, timeouts: timeouts)
    }

    /// When the connection's one timer (its check, acted on by the loop's sweep) is due next, from `now` (see
    /// ClientTimeouts.checkPeriod).
    func nextCheck(now: NIODeadline, underPressure: Bool) -> NIODeadline {
        var at = now + timeouts.checkPeriod
        if let deadline = deadline(for: currentWait, underPressure: underPressure), deadline < at { at = deadline }
        return at
    }

    /// The timer fired at `now`. `upstreamHeldBody`: the client's body is not read because the
    /// upstream would not take it.
    mutating func timerFired(now: NIODeadline, underPressure: Bool, upstreamHeldBody: Bool) -> TimerOutcome {
        if isClosed { return .rearm }
        clock.noticeProgress(now: now)
        let wait = currentWait
        if wait == .response, let perTry = timeouts.perTry, now >= clock.waitSince + perTry, let tries = request?.tries {
            let outcome = resolve(tries.giveUp(.perTryTimeout))
            if case .retry = outcome { return .tryGivenUp(outcome) }
        }
        guard let deadline = deadline(for: wait, underPressure: underPressure), now >= deadline else { return .rearm }
        let failed = request?.upstream
        switch wait.expiry(responseStarted: request?.tries.responseStarted ?? false, upstreamHeldBody: upstreamHeldBody) {
        case .none:
            return .rearm
        case .close:
            return .close
        case .answerAndClose(let status):
            if status == .gatewayTimeout {
                return .answer(status, "the upstream did not take the request in time\n", close: true, failed: failed)
            } else if wait == .head {
                return .answer(status, "the request head did not arrive in time\n", close: true, failed: nil)
            } else {
                return .answer(status, "the request body did not arrive in time\n", close: true, failed: nil)
            }
        case .answer(let status):
            // No retry: the upstream may be processing the request, and a second try could repeat its effect.
            return .answer(status, "the upstream did not answer in time\n", close: false, failed: failed)
        }
    }

    // MARK: Tries

    /// Turns the try rules' ending into what the handler does, picking the retry upstream in the
    /// request's own table.
    private mutating func resolve(_ ending: ExchangeTries.Ending) -> TryOutcome {
        guard let failed = request?.upstream else { return .keep }
        switch ending {
        case .keep: return .keep
        case .closeClient: return .closeClient
        case .answer(let status, let text): return .answer(status, text)
        case .retry(let reason, let otherwise):
            guard let next = request?.route?.pickRetry(excluding: failed, avoiding: unreachable) else { return resolve(otherwise) }
            if request!.attached {
                // Closed or given up while sent: the head is rewritten on attach, the parts so far come
                // from the replay copy.
                pending = LazyQueue(replay)
                pendingBytes = replayBytes
            }
            request!.tries.retrying()
            request!.upstream = next
            return .retry(failed: failed, next: next, reason: reason)
        }
    }

    /// Resets per-request state after the response ended; the rest of a request body still coming is dropped.
    private mutating func endExchange(now: NIODeadline) {
        phase = request?.complete ?? true ? .idle : .draining
        request = nil
        resetTry()
        // The keep-alive wait, or the drain of an early-answered body, starts now.
        clock.waitSince = now
    }

    private mutating func resetTry() {
        responseBodyFraming = .drop
        // The queue keeps its storage: a fresh buffer on every request would be an allocation each.
        if !pending.isEmpty { pending.removeAll() }
        pendingBytes = 0
        if !replay.isEmpty { replay.removeAll(keepingCapacity: true) }
        replayBytes = 0
    }
}
