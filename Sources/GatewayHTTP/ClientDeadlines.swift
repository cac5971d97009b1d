// The deadlines of a proxy client connection, as pure functions: what the connection waits for, how
// long it may wait, and what happens when the wait is over. Every state has a deadline (Envoy's
// `request_headers_timeout` and `stream_idle_timeout`, HAProxy's `timeout http-request`,
// `timeout http-keep-alive`, `timeout client` and `timeout server`), so no client, however slow or
// silent, holds a descriptor for ever.
import NIOCore
import NIOHTTP1

/// The timeouts of the proxy's client connections.
struct ClientTimeouts: Sendable, Equatable {
    /// From the accept, or from the first byte of a later request, to the end of the request head.
    var requestHead: TimeAmount
    /// The longest a request body may make no progress; also how long the rest of a request body is
    /// read and dropped after the response has gone out (an early answer such as 413).
    var requestBody: TimeAmount
    /// From the end of the request to the response head; then the longest a response may make no progress.
    var response: TimeAmount
    /// How long a keep-alive connection may sit between requests with no byte of the next one.
    var idle: TimeAmount
    /// From the moment the upstream has the whole request, how long a try may go without a response
    /// head before a request that may be sent twice goes to another cluster; nil: never (the default).
    var perTry: TimeAmount? = nil

    /// How far ahead a connection's one check (its timer: the loop's sweep acts on it, LoopClients) is set at most:
    /// the shortest timeout. A deadline set later (always now + a timeout) so never lies before the check, which
    /// therefore never has to be moved, only set again when it is due: a busy connection is checked about once per
    /// period instead of twice per request. Progress (body bytes either way) is counted, not timed:
    /// it is noticed when the check is due, so a stall is detected between one timeout and one timeout
    /// plus one period (and a sweep's tick) after the last byte.
    /// With a per-try timeout the period is at most that timeout too, so a slow try is given up
    /// between one and two per-try timeouts after the upstream had the request.
    var checkPeriod: TimeAmount {
        let period = min(requestHead, requestBody, response, idle)
        guard let perTry else { return period }
        return min(period, perTry)
    }
}

/// What a client connection is waiting for; each case has exactly one deadline and one ending.
enum ClientWait: Equatable, CaseIterable {
    /// A new connection, no byte yet: `requestHead` from the accept (HAProxy's `timeout http-request`).
    case firstHead
    /// Between requests, no byte of the next yet: `idle` from the end of the last response.
    case keepAlive
    /// Part of a request head has arrived: `requestHead` from its first byte.
    case head
    /// The request body is still arriving: `requestBody` since the last progress.
    case requestBody
    /// The request is complete and the upstream has it: `response` until the response head.
    case response
    /// The response is streaming: `response` since the last progress.
    case responseBody
    /// The response went out before the request body was complete: the rest is read and dropped for
    /// at most `requestBody` from the end of the response.
    case drain
    /// An upstream connection is being opened: the proxy's connect timeout bounds it.
    case connecting

    /// What a connection is waiting for, from the facts of its exchange.
    static func of(
        exchange: Bool, draining: Bool, firstRequest: Bool, headStarted: Bool,
        attached: Bool, requestComplete: Bool, responseStarted: Bool
    ) -> ClientWait {
        if draining { return .drain }
        guard exchange else { return headStarted ? .head : firstRequest ? .firstHead : .keepAlive }
        if !requestComplete { return attached || responseStarted ? .requestBody : .connecting }
        guard attached else { return .connecting }
        return responseStarted ? .responseBody : .response
    }

    /// How long this wait may last; nil only for ``connecting``, which the connect timeout bounds.
    func timeout(_ t: ClientTimeouts) -> TimeAmount? {
        switch self {
        case .firstHead, .head: return t.requestHead
        case .keepAlive: return t.idle
        case .requestBody, .drain: return t.requestBody
        case .response, .responseBody: return t.response
        case .connecting: return nil
        }
    }

    /// Whether the deadline runs from the last progress of the exchange rather than from the wait's start.
    var measuresProgress: Bool {
        self == .requestBody || self == .responseBody
    }

    /// What the proxy does when this wait's deadline passes.
    ///
    /// - Parameters:
    ///   - responseStarted: some of the response has gone to the client, so no answer of the proxy's can follow.
    ///   - upstreamHeldBody: the client's body was not read because the upstream would not take it.
    func expiry(responseStarted: Bool, upstreamHeldBody: Bool) -> ClientWaitExpiry {
        switch self {
        case .firstHead, .keepAlive, .drain:
            return .close
        case .head:
            return .answerAndClose(.requestTimeout)
        case .requestBody:
            if responseStarted { return .close }
            return .answerAndClose(upstreamHeldBody ? .gatewayTimeout : .requestTimeout)
        case .response:
            // The request is complete, so the client connection stays usable after the 504.
            return .answer(.gatewayTimeout)
        case .responseBody:
            return .close
        case .connecting:
            return .none
        }
    }
}

/// The ending of a wait whose deadline has passed.
enum ClientWaitExpiry: Equatable {
    /// Nothing to do (the wait has its own timeout elsewhere).
    case none
    /// Close the connection without a word: nothing was asked, or a response is already half out.
    case close
    /// Answer with this status, then close: the request's framing can no longer be trusted.
    case answerAndClose(HTTPResponseStatus)
    /// Answer with this status and keep the connection.
    case answer(HTTPResponseStatus)
}

/// The times a client connection's deadlines run from; a value its handler owns on its loop.
///
/// Clock reads stay where they were before deadlines covered every state: about two per request
/// (the request reaching the upstream whole, the exchange ending). Progress is a counter bumped per
/// body part or upstream read and turned into a time only when the timer fires.
struct ClientClock {
    /// When the current wait began: the accept, the end of the last exchange or of a drain, or the
    /// moment the upstream had the whole request.
    var waitSince: NIODeadline
    /// When the first byte of a request head not complete yet arrived; nil while none is pending.
    var headStartedAt: NIODeadline?
    /// No request has started on the connection yet: its head is due a fixed time after the accept.
    private(set) var firstRequest = true
    /// Bumped whenever body bytes move either way.
    var progress: UInt32 = 0
    private var progressSeen: UInt32 = 0
    private var progressAt = NIODeadline.uptimeNanoseconds(0)

    init(now: NIODeadline) {
        waitSince = now
    }

    /// A request head has arrived whole.
    mutating func requestStarted() {
        firstRequest = false
        headStartedAt = nil
        progress &+= 1
    }

    /// Called as the timer fires: progress made since the last call counts as made now.
    mutating func noticeProgress(now: NIODeadline) {
        guard progress != progressSeen else { return }
        progressSeen = progress
        progressAt = now
    }

    /// When `wait` ends; nil for the connect, which its own timeout bounds.
    func deadline(for wait: ClientWait, timeouts: ClientTimeouts) -> NIODeadline? {
        guard let timeout = wait.timeout(timeouts) else { return nil }
        var base = waitSince
        // A later request's head is due a fixed time after its first byte (a first one's after the accept).
        if wait == .head, !firstRequest, let started = headStartedAt { base = started }
        if wait.measuresProgress, progressAt > base { base = progressAt }
        return base + timeout
    }
}
