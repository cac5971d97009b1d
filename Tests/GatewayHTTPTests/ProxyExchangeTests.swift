@testable import GatewayHTTP
import NIOCore
import NIOHTTP1
import XCTest

/// The proxy's exchange state machine without sockets or clocks: each event sequence and what the
/// handler is told to do. Time is a plain `NIODeadline` moved by hand.
final class ProxyExchangeTests: XCTestCase {
    private static let a = Upstream(cluster: "c1", host: "127.0.0.1", port: 1)
    private static let b = Upstream(cluster: "c2", host: "127.0.0.2", port: 2)
    private static let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
    private static let timeouts = ClientTimeouts(
        requestHead: .seconds(10), requestBody: .seconds(10), response: .seconds(30), idle: .seconds(60), perTry: .seconds(2)
    )

    /// A table that routes `app.test` to `a` and retries on `b` (or on nothing).
    private func table(retry: Upstream? = ProxyExchangeTests.b) -> CycleSelector {
        CycleSelector(cycle: [Self.a], retry: { excluded in excluded == retry ? nil : retry })
    }

    /// An exchange with a routed request: `method` to `app.test`, not attached yet.
    private func routed(
        _ method: HTTPMethod, headers: HTTPHeaders = ["Host": "app.test"], version: HTTPVersion = .http1_1,
        retry: Upstream? = ProxyExchangeTests.b, limit: Int = 1024, mayResend: Bool? = nil
    ) -> ProxyExchange {
        var exchange = ProxyExchange(timeouts: Self.timeouts, retryBodyLimit: limit, now: Self.t0)
        let head = HTTPRequestHead(version: version, method: method, uri: "/x", headers: headers)
        exchange.requestStarted(head, keepAlive: head.isKeepAlive, mayResend: mayResend ?? ResendPolicy().mayResend(method))
        guard case .forward(let plan) = RequestPlan.make(
            head, table: table(retry: retry), clientIP: "10.0.0.1", forwarded: "for=10.0.0.1", allocator: ByteBufferAllocator()
        ) else {
            XCTFail("not forwarded")
            return exchange
        }
        _ = exchange.routed(plan)
        return exchange
    }

    private func body(_ text: String) -> HTTPClientRequestPart {
        .body(.byteBuffer(ByteBuffer(string: text)))
    }

    private func responseHead(_ body: ResponseBody, keepAlive: Bool = true) -> UpstreamResponseHead {
        UpstreamResponseHead(
            status: 200, statusText: ByteBuffer(string: "200 OK"), headerBlock: ByteBuffer(), keepAlive: keepAlive, body: body
        )
    }

    // MARK: Resends

    func testAGetWhoseUpstreamLeftTheTableGoesElsewhereWithItsBody() {
        var exchange = routed(.GET)
        XCTAssertFalse(exchange.attached(now: Self.t0), "the request is not complete: no response deadline yet")
        XCTAssertEqual(exchange.requestPart(body("abc"), bytes: 3), .write)
        XCTAssertEqual(exchange.tablePublished(live: [Self.a]), .keep, "its upstream is still live")
        XCTAssertEqual(exchange.tablePublished(live: [Self.b]), .retry(failed: Self.a, next: Self.b, reason: .leftTable))
        XCTAssertEqual(exchange.request?.upstream, Self.b)
        XCTAssertFalse(exchange.request?.attached ?? true, "the retry connects afresh")
        XCTAssertEqual(exchange.pendingBytes, 3, "the body so far is replayed")
        var replayed = 0
        while case .body? = exchange.popPending() { replayed += 1 }
        XCTAssertEqual(replayed, 1)
        XCTAssertEqual(exchange.tablePublished(live: []), .keep, "a request is resent at most once")
    }

    func testARequestStillConnectingWhenItsUpstreamLeftTheTableGoesElsewhere() {
        var exchange = routed(.GET)
        XCTAssertEqual(exchange.requestPart(body("ab"), bytes: 2), .queued)
        XCTAssertEqual(exchange.tablePublished(live: []), .retry(failed: Self.a, next: Self.b, reason: .leftTable))
        XCTAssertEqual(exchange.pendingBytes, 2, "nothing was written: the queue stays as it is")
    }

    func testAPostIsNeverResent() {
        var exchange = routed(.POST, headers: ["Host": "app.test", "Content-Length": "3"])
        _ = exchange.attached(now: Self.t0)
        _ = exchange.requestPart(body("abc"), bytes: 3)
        XCTAssertEqual(exchange.tablePublished(live: []), .keep, "the upstream may be acting on it")
        guard let (failure, outcome) = exchange.upstreamClosed() else { return XCTFail("no exchange") }
        XCTAssertEqual(failure, .closedBeforeResponse)
        guard case .answer(.badGateway, let text) = outcome else { return XCTFail("a POST got \(outcome)") }
        XCTAssertTrue("\(text)".contains("not idempotent"))
    }

    func testAFailedConnectIsRetriedOnceWhateverTheMethod() {
        var exchange = routed(.POST, headers: ["Host": "app.test", "Content-Length": "3"])
        XCTAssertEqual(exchange.connectFailed(.connectFailed), .retry(failed: Self.a, next: Self.b, reason: .connectFailed))
        XCTAssertEqual(exchange.connectFailed(.connectTimeout), .answer(.badGateway, "the upstream connection failed\n"))
    }

    func testARetryWithNowhereToGoFallsBackToTheRule() {
        var exchange = routed(.GET, retry: nil)
        XCTAssertEqual(exchange.connectFailed(.connectFailed), .answer(.badGateway, "the upstream connection failed\n"))
        var leaving = routed(.GET, retry: nil)
        XCTAssertEqual(leaving.tablePublished(live: []), .keep, "no live upstream: it waits for its answer")
    }

    func testAnUpstreamClosingBeforeTheHeadIsResentOnceForAGet() {
        var exchange = routed(.GET)
        _ = exchange.attached(now: Self.t0)
        _ = exchange.requestEnded(nil, now: Self.t0)
        guard let (failure, outcome) = exchange.upstreamClosed() else { return XCTFail("no exchange") }
        XCTAssertEqual(failure, .closedBeforeResponse)
        XCTAssertEqual(outcome, .retry(failed: Self.a, next: Self.b, reason: .closedBeforeResponse))
        guard case .end? = exchange.popPending() else { return XCTFail("the request's end is replayed") }
        _ = exchange.attached(now: Self.t0)
        XCTAssertEqual(exchange.upstreamClosed()?.outcome, .answer(.badGateway, "the upstream connection failed\n"))
    }

    func testABodyTooLargeToKeepIsNotReplayed() {
        var exchange = routed(.PUT, headers: ["Host": "app.test", "Content-Length": "8"], limit: 4, mayResend: true)
        _ = exchange.attached(now: Self.t0)
        _ = exchange.requestPart(body("abcd"), bytes: 4)
        _ = exchange.requestPart(body("efgh"), bytes: 4)
        guard case .answer(.badGateway, let text)? = exchange.upstreamClosed()?.outcome else { return XCTFail("retried") }
        XCTAssertTrue("\(text)".contains("too large"))
    }

    // MARK: Deadlines

    func testThePerTryTimeoutMovesAGetOnceThenTheResponseTimeoutAnswers504() {
        var exchange = routed(.GET)
        _ = exchange.attached(now: Self.t0)
        _ = exchange.requestEnded(nil, now: Self.t0)
        XCTAssertEqual(exchange.currentWait, .response)
        XCTAssertEqual(exchange.timerFired(now: Self.t0 + .seconds(1), underPressure: false, upstreamHeldBody: false), .rearm)
        XCTAssertEqual(
            exchange.timerFired(now: Self.t0 + .seconds(2), underPressure: false, upstreamHeldBody: false),
            .tryGivenUp(.retry(failed: Self.a, next: Self.b, reason: .perTryTimeout))
        )
        XCTAssertEqual(exchange.currentWait, .connecting)
        let resent = Self.t0 + .seconds(3)
        _ = exchange.attached(now: resent)
        XCTAssertEqual(
            exchange.timerFired(now: resent + .seconds(5), underPressure: false, upstreamHeldBody: false), .rearm,
            "the second try is the last: no per-try timeout"
        )
        XCTAssertEqual(
            exchange.timerFired(now: resent + .seconds(30), underPressure: false, upstreamHeldBody: false),
            .answer(.gatewayTimeout, "the upstream did not answer in time\n", close: false, failed: Self.b)
        )
    }

    func testThePerTryTimeoutLeavesAPostAlone() {
        var exchange = routed(.POST, headers: ["Host": "app.test", "Content-Length": "0"])
        _ = exchange.attached(now: Self.t0)
        _ = exchange.requestEnded(nil, now: Self.t0)
        XCTAssertEqual(exchange.timerFired(now: Self.t0 + .seconds(2), underPressure: false, upstreamHeldBody: false), .rearm)
    }

    func testASlowRequestBodyGets408OrA504WhenTheUpstreamHeldIt() {
        var exchange = routed(.PUT, headers: ["Host": "app.test", "Content-Length": "8"])
        _ = exchange.attached(now: Self.t0)
        XCTAssertEqual(exchange.currentWait, .requestBody)
        // The first check notices the head's progress; the body's deadline runs from there.
        XCTAssertEqual(exchange.timerFired(now: Self.t0 + .seconds(1), underPressure: false, upstreamHeldBody: false), .rearm)
        var held = exchange
        XCTAssertEqual(exchange.timerFired(now: Self.t0 + .seconds(10), underPressure: false, upstreamHeldBody: false), .rearm)
        XCTAssertEqual(
            exchange.timerFired(now: Self.t0 + .seconds(11), underPressure: false, upstreamHeldBody: false),
            .answer(.requestTimeout, "the request body did not arrive in time\n", close: true, failed: nil)
        )
        XCTAssertEqual(
            held.timerFired(now: Self.t0 + .seconds(11), underPressure: false, upstreamHeldBody: true),
            .answer(.gatewayTimeout, "the upstream did not take the request in time\n", close: true, failed: Self.a)
        )
    }

    func testAStalledResponseClosesTheClient() {
        var exchange = routed(.GET)
        _ = exchange.attached(now: Self.t0)
        _ = exchange.requestEnded(nil, now: Self.t0)
        XCTAssertNotNil(exchange.responseHead(responseHead(.chunked), now: Self.t0 + .seconds(1)))
        XCTAssertEqual(exchange.currentWait, .responseBody)
        XCTAssertEqual(exchange.timerFired(now: Self.t0 + .seconds(2), underPressure: false, upstreamHeldBody: false), .rearm)
        XCTAssertEqual(exchange.timerFired(now: Self.t0 + .seconds(31), underPressure: false, upstreamHeldBody: false), .rearm)
        XCTAssertEqual(exchange.timerFired(now: Self.t0 + .seconds(32), underPressure: false, upstreamHeldBody: false), .close)
    }

    func testAnIdleConnectionClosesSoonerUnderPressure() {
        var exchange = ProxyExchange(timeouts: Self.timeouts, retryBodyLimit: 0, now: Self.t0)
        XCTAssertEqual(exchange.currentWait, .firstHead)
        XCTAssertTrue(exchange.readBatchEnded(), "a batch that completed no head began one")
        exchange.requestStarted(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/"), keepAlive: true, mayResend: true)
        _ = exchange.answer(.notFound, now: Self.t0)
        XCTAssertEqual(exchange.requestEnded(nil, now: Self.t0), .drained(closeNow: false))
        XCTAssertEqual(exchange.currentWait, .keepAlive)
        XCTAssertEqual(exchange.deadline(for: .keepAlive, underPressure: false), Self.t0 + .seconds(60))
        XCTAssertEqual(exchange.deadline(for: .keepAlive, underPressure: true), Self.t0 + .seconds(10))
        XCTAssertEqual(exchange.timerFired(now: Self.t0 + .seconds(10), underPressure: true, upstreamHeldBody: false), .close)
    }

    // MARK: The response

    func testASmallBodyIsHeldWithItsHeadAndTheUpstreamConnectionIsReused() {
        var exchange = routed(.GET)
        _ = exchange.attached(now: Self.t0)
        _ = exchange.requestEnded(nil, now: Self.t0)
        guard let start = exchange.responseHead(responseHead(.length(5)), now: Self.t0 + .milliseconds(7)) else {
            return XCTFail("no response")
        }
        XCTAssertEqual(start.heldBodyLength, 5)
        XCTAssertEqual(start.waited, .milliseconds(7))
        XCTAssertEqual(start.head.cluster, "c1")
        XCTAssertEqual(exchange.responseBodyFraming, .asIs)
        XCTAssertEqual(exchange.upstreamClosed()?.outcome, .answer(.badGateway, "the upstream connection failed during the response\n"))
        XCTAssertEqual(
            exchange.responseEnded(now: Self.t0 + .seconds(1)), .init(reuseUpstream: true, lastChunk: false, close: false)
        )
        XCTAssertTrue(exchange.isIdle)
    }

    func testAnUnknownLengthIsChunkedForHTTP11AndClosesForHTTP10() {
        var modern = routed(.GET)
        _ = modern.attached(now: Self.t0)
        _ = modern.requestEnded(nil, now: Self.t0)
        XCTAssertEqual(modern.responseHead(responseHead(.untilClose, keepAlive: false), now: Self.t0)?.heldBodyLength, 0)
        XCTAssertEqual(modern.responseBodyFraming, .chunked)
        XCTAssertEqual(modern.responseEnded(now: Self.t0), .init(reuseUpstream: false, lastChunk: true, close: false))

        var old = routed(.GET, version: .http1_0)
        _ = old.attached(now: Self.t0)
        _ = old.requestEnded(nil, now: Self.t0)
        _ = old.responseHead(responseHead(.chunked), now: Self.t0)
        XCTAssertEqual(old.responseBodyFraming, .asIs)
        XCTAssertEqual(old.responseEnded(now: Self.t0)?.close, true, "an HTTP/1.0 client reads to the close")
    }

    func testAHeadResponseHasNoBody() {
        var exchange = routed(.HEAD)
        _ = exchange.attached(now: Self.t0)
        _ = exchange.requestEnded(nil, now: Self.t0)
        XCTAssertEqual(exchange.responseHead(responseHead(.length(10)), now: Self.t0)?.heldBodyLength, 0)
        XCTAssertEqual(exchange.responseBodyFraming, .drop)
    }

    func testAnUpstreamClosingMidResponseClosesTheClient() {
        var exchange = routed(.GET)
        _ = exchange.attached(now: Self.t0)
        _ = exchange.requestEnded(nil, now: Self.t0)
        _ = exchange.responseHead(responseHead(.chunked), now: Self.t0)
        guard let (failure, outcome) = exchange.upstreamClosed() else { return XCTFail("no exchange") }
        XCTAssertEqual(failure, .closedMidResponse)
        XCTAssertEqual(outcome, .closeClient)
        XCTAssertEqual(exchange.tablePublished(live: []), .keep, "nothing moves once the response has begun")
    }

    func testAClientGoneMidResponseIgnoresTheRestOfTheExchange() {
        var exchange = routed(.GET)
        _ = exchange.attached(now: Self.t0)
        _ = exchange.requestEnded(nil, now: Self.t0)
        _ = exchange.responseHead(responseHead(.chunked), now: Self.t0)
        exchange.clientClosed()
        XCTAssertTrue(exchange.isClosed)
        XCTAssertEqual(exchange.responseBodyFraming, .drop)
        XCTAssertNil(exchange.responseEnded(now: Self.t0))
        XCTAssertNil(exchange.upstreamClosed())
        XCTAssertEqual(exchange.tablePublished(live: []), .keep)
        XCTAssertEqual(exchange.timerFired(now: Self.t0 + .seconds(100), underPressure: false, upstreamHeldBody: false), .rearm)
        XCTAssertEqual(exchange.requestPart(body("x"), bytes: 1), .drop)
        XCTAssertEqual(exchange.requestEnded(nil, now: Self.t0), .ignore)
    }

    func testShutdownClosesAfterTheCurrentResponse() {
        var exchange = routed(.GET)
        XCTAssertFalse(exchange.quiesce(), "busy: it closes after the response")
        _ = exchange.attached(now: Self.t0)
        _ = exchange.requestEnded(nil, now: Self.t0)
        XCTAssertEqual(exchange.responseHead(responseHead(.length(0)), now: Self.t0)?.head.keepAlive, false)
        XCTAssertEqual(exchange.responseEnded(now: Self.t0)?.close, true)
        var idle = ProxyExchange(timeouts: Self.timeouts, retryBodyLimit: 0, now: Self.t0)
        XCTAssertTrue(idle.quiesce())
    }

    // MARK: The proxy's own answers

    func testAnEarlyAnswerDrainsTheRestOfTheBody() {
        var exchange = routed(.PUT, headers: ["Host": "app.test", "Content-Length": "8"])
        XCTAssertEqual(exchange.answer(.badGateway, now: Self.t0), .init(status: .badGateway, close: false, clientMinor: 1, isHEAD: false))
        XCTAssertEqual(exchange.currentWait, .drain)
        XCTAssertEqual(exchange.requestPart(body("rest"), bytes: 4), .drop)
        XCTAssertEqual(exchange.requestEnded(nil, now: Self.t0 + .seconds(1)), .drained(closeNow: false))
        XCTAssertTrue(exchange.isIdle)
    }

    func testAnAnswerToABodyStillWaitingForContinueCloses() {
        var old = routed(
            .PUT, headers: ["Host": "app.test", "Connection": "keep-alive", "Content-Length": "8", "Expect": "100-continue"], version: .http1_0
        )
        XCTAssertTrue(old.answer(.badGateway, now: Self.t0).close, "no 100 was sent: where the next request starts is unknown")
        var modern = routed(.PUT, headers: ["Host": "app.test", "Content-Length": "8", "Expect": "100-continue"])
        XCTAssertEqual(modern.request?.bodyWait, .continueSent)
        XCTAssertFalse(modern.answer(.badGateway, now: Self.t0).close)
    }

    func testAParseErrorIsAnsweredOnlyBeforeAnyUpstreamHasTheRequest() {
        var exchange = routed(.GET)
        XCTAssertTrue(exchange.canAnswerParseError)
        _ = exchange.attached(now: Self.t0)
        XCTAssertFalse(exchange.canAnswerParseError)
    }

    func testClientReadsAreHeldWhileTheRequestHasNowhereToGo() {
        var exchange = routed(.PUT, headers: ["Host": "app.test", "Content-Length": "8"], limit: 4)
        XCTAssertFalse(exchange.holdsClientReads(pipelined: 0, upstreamWritable: nil))
        _ = exchange.requestPart(body("abcdef"), bytes: 6)
        XCTAssertTrue(exchange.holdsClientReads(pipelined: 0, upstreamWritable: nil), "the queue for the connect is full")
        _ = exchange.attached(now: Self.t0)
        XCTAssertFalse(exchange.holdsClientReads(pipelined: 0, upstreamWritable: true))
        XCTAssertTrue(exchange.holdsClientReads(pipelined: 0, upstreamWritable: false))
        XCTAssertTrue(exchange.holdsClientReads(pipelined: 65, upstreamWritable: true))
    }
}
