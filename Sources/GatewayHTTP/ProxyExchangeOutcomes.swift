// What the proxy's exchange state machine (ProxyExchange) asks of its handler after a try ends
// badly, a timer fires or the proxy answers by itself: plain values the handler carries out.
import NIOCore
import NIOHTTP1

extension ProxyExchange {
    /// What the handler does after a try ended badly or was given up.
    enum TryOutcome: Equatable {
        /// Nothing: the try goes on.
        case keep
        /// Close the client connection (part of the response went out).
        case closeClient
        /// Answer the client with the proxy's own response (``answer(_:_:close:)`` gives its head).
        case answer(HTTPResponseStatus, StaticString)
        /// The request now goes to `next` on a fresh connection; the try to `failed` is over.
        case retry(failed: Upstream, next: Upstream, reason: UpstreamFailure)

        static func == (a: Self, b: Self) -> Bool {
            switch (a, b) {
            case (.keep, .keep), (.closeClient, .closeClient): return true
            case (.answer(let s1, let t1), .answer(let s2, let t2)): return s1 == s2 && "\(t1)" == "\(t2)"
            case (.retry(let f1, let n1, let r1), .retry(let f2, let n2, let r2)): return f1 == f2 && n1 == n2 && r1 == r2
            default: return false
            }
        }
    }

    /// One of the proxy's own answers, as the handler writes it.
    struct LocalAnswer: Equatable {
        var status: HTTPResponseStatus
        /// The connection closes after it.
        var close: Bool
        var clientMinor: Int
        /// A HEAD request: the head only.
        var isHEAD: Bool
    }

    /// What a fired timer asks of the handler.
    enum TimerOutcome {
        /// Nothing is due: re-arm.
        case rearm
        /// The per-try timeout moved the request elsewhere (carry out the ``TryOutcome``).
        case tryGivenUp(TryOutcome)
        /// Close the client connection without a word.
        case close
        /// Answer with the proxy's own response; `failed` is the upstream whose try timed out, if any.
        case answer(HTTPResponseStatus, StaticString, close: Bool, failed: Upstream?)
    }

    /// What to do with a body part (or the end) of the request under way.
    enum Forwarding: Equatable {
        /// Not part of an exchange (drained or closed): drop it.
        case drop
        /// Write it to the upstream connection.
        case write
        /// Nothing: it waits for the connection being opened (``popPending()``).
        case queued
    }

    /// What the request's end leads to.
    enum RequestEnd: Equatable {
        case ignore
        /// Forward the end like a body part.
        case forward(Forwarding)
        /// The drain of an answered request is over; `closeNow` when shutdown waits for it.
        case drained(closeNow: Bool)
    }

    /// The response head of the current try arrived.
    struct ResponseStart {
        var head: ClientResponseHead
        var clientMinor: Int
        /// A small body's length: the head waits for it, to go out in one buffer.
        var heldBodyLength: Int
        /// From the upstream having the whole request to its head.
        var waited: TimeAmount
    }

    /// How a response body part goes to the client.
    enum BodyFraming {
        /// Dropped (the response to a HEAD has none).
        case drop
        /// Written as chunks.
        case chunked
        /// Written as it came.
        case asIs
    }

    /// The upstream's response came whole.
    struct ResponseEnd: Equatable {
        /// The upstream connection may go back to the pool (it took the whole request and keeps alive).
        var reuseUpstream: Bool
        /// The response ends with the last chunk.
        var lastChunk: Bool
        /// Close the client connection after the response.
        var close: Bool
    }
}

extension ProxyExchange.TimerOutcome: Equatable {
    /// Answers compare by status, text and target (a `StaticString` is not `Equatable` by itself).
    static func == (a: Self, b: Self) -> Bool {
        switch (a, b) {
        case (.rearm, .rearm), (.close, .close): return true
        case (.tryGivenUp(let o1), .tryGivenUp(let o2)): return o1 == o2
        case (.answer(let s1, let t1, let c1, let f1), .answer(let s2, let t2, let c2, let f2)):
            return s1 == s2 && "\(t1)" == "\(t2)" && c1 == c2 && f1 == f2
        default: return false
        }
    }
}
