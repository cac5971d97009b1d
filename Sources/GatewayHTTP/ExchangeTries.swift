// The tries of one proxied request as a pure state machine: how far the current try got, whether the
// request may still go elsewhere, and what the proxy does when a try ends badly. The handler feeds it
// events and carries out the ending it returns; the rules are tested here without sockets.
import NIOHTTP1

/// One request's tries against upstreams.
///
/// The rules (Envoy's and HAProxy's, see ``ResendPolicy``): a try that wrote nothing (its connect
/// failed) is always retried once; a try the upstream may have acted on is retried only for a method
/// that may be sent twice and while the body is still kept; nothing is retried once a response byte
/// has arrived, and a request is retried at most once.
struct ExchangeTries: Equatable, Sendable {
    /// How far the current try got.
    enum Stage: Equatable {
        /// Connecting to the upstream: nothing written yet.
        case connecting
        /// The upstream has the request, or part of it; no response byte yet.
        case sent
        /// A response head arrived and waits, with its small body, before anything goes to the client.
        case responseHeld
        /// Part of the response went to the client.
        case responseForwarded
    }

    /// What the proxy does about a try that ended badly, or that it gives up.
    indirect enum Ending: Equatable, Sendable {
        /// Send the request to the route's retry upstream on a fresh connection, counted with this
        /// reason; `otherwise` applies when the table has no retry upstream.
        case retry(UpstreamFailure, otherwise: Ending)
        /// Answer the client with the proxy's own response.
        case answer(HTTPResponseStatus, StaticString)
        /// Close the client connection: part of the response went out, so no answer can follow.
        case closeClient
        /// Leave the try as it is.
        case keep
    }

    private(set) var stage = Stage.connecting
    private(set) var retried = false
    /// The method may be written to a second upstream after a first got it (``ResendPolicy``).
    let mayResend: Bool
    /// A copy of the body sent so far is kept, so a try that consumed it can be replayed.
    private(set) var bodyKept = true

    init(mayResend: Bool) {
        self.mayResend = mayResend
    }

    /// Whether a response byte has arrived on the current try.
    var responseStarted: Bool { stage == .responseHeld || stage == .responseForwarded }

    // MARK: Events

    /// The try has its connection and the request is being written.
    mutating func attached() {
        stage = .sent
    }

    /// The body grew past what is kept for a replay.
    mutating func bodyDropped() {
        bodyKept = false
    }

    /// A response head arrived; `held` when it waits for its small body before going out.
    mutating func responseHead(held: Bool) {
        stage = held ? .responseHeld : .responseForwarded
        bodyKept = false
    }

    /// A held response head went out.
    mutating func responseForwarded() {
        stage = .responseForwarded
    }

    /// The request goes to another upstream now: a new try, the last one.
    mutating func retrying() {
        retried = true
        stage = .connecting
    }

    // MARK: Endings

    /// The connect failed or timed out: nothing was written, so the request can always go elsewhere.
    func connectFailed(_ failure: UpstreamFailure) -> Ending {
        retried ? Self.failed : .retry(failure, otherwise: Self.failed)
    }

    /// The upstream connection closed.
    func upstreamClosed() -> Ending {
        switch stage {
        case .connecting, .sent:
            guard mayResend else {
                // The upstream may have acted on the request before closing: a POST is never sent twice.
                return .answer(.badGateway, "the upstream connection closed before answering; the request was not re-sent (its method is not idempotent)\n")
            }
            guard bodyKept else {
                return .answer(.badGateway, "the upstream connection failed and the request was too large to retry\n")
            }
            return retried ? Self.failed : .retry(.closedBeforeResponse, otherwise: Self.failed)
        case .responseHeld:
            // Nothing of the response reached the client yet, so it can still get a proper answer.
            return .answer(.badGateway, "the upstream connection failed during the response\n")
        case .responseForwarded:
            // The head went out already; only closing tells the client its response is cut short.
            return .closeClient
        }
    }

    /// The proxy would rather not wait for this try (the table dropped its endpoint, or the per-try
    /// timeout passed): it goes elsewhere only if that is harmless, else it is left alone.
    func giveUp(_ reason: UpstreamFailure) -> Ending {
        guard mayResend, bodyKept, !retried, !responseStarted else { return .keep }
        return .retry(reason, otherwise: .keep)
    }

    private static let failed = Ending.answer(.badGateway, "the upstream connection failed\n")
}

extension ExchangeTries.Ending {
    /// Answers compare by status and text (a `StaticString` is not `Equatable` by itself).
    static func == (a: Self, b: Self) -> Bool {
        switch (a, b) {
        case (.retry(let r1, let o1), .retry(let r2, let o2)): return r1 == r2 && o1 == o2
        case (.answer(let s1, let t1), .answer(let s2, let t2)): return s1 == s2 && "\(t1)" == "\(t2)"
        case (.closeClient, .closeClient), (.keep, .keep): return true
        default: return false
        }
    }
}
