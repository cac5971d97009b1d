@testable import GatewayHTTP
import NIOHTTP1
import XCTest

/// The retry rules of one request, without sockets: each event sequence and the ending it leads to.
final class ExchangeTriesTests: XCTestCase {
    private static let failed = ExchangeTries.Ending.answer(.badGateway, "the upstream connection failed\n")

    func testAFailedConnectIsRetriedOnceWhateverTheMethod() {
        for mayResend in [true, false] {
            var tries = ExchangeTries(mayResend: mayResend)
            XCTAssertEqual(tries.connectFailed(.connectFailed), .retry(.connectFailed, otherwise: Self.failed))
            tries.retrying()
            XCTAssertEqual(tries.connectFailed(.connectTimeout), Self.failed, "a request is retried at most once")
        }
    }

    func testAnUpstreamClosingBeforeAnsweringIsRetriedOnlyWhenHarmless() {
        var get = ExchangeTries(mayResend: true)
        get.attached()
        XCTAssertEqual(get.upstreamClosed(), .retry(.closedBeforeResponse, otherwise: Self.failed))

        var post = ExchangeTries(mayResend: false)
        post.attached()
        guard case .answer(.badGateway, let text) = post.upstreamClosed() else { return XCTFail("a POST is never sent twice") }
        XCTAssertTrue("\(text)".contains("not idempotent"))

        var large = ExchangeTries(mayResend: true)
        large.attached()
        large.bodyDropped()
        guard case .answer(.badGateway, let tooLarge) = large.upstreamClosed() else { return XCTFail("a body not kept cannot be replayed") }
        XCTAssertTrue("\(tooLarge)".contains("too large"))

        var again = ExchangeTries(mayResend: true)
        again.retrying()
        again.attached()
        XCTAssertEqual(again.upstreamClosed(), Self.failed)
    }

    func testAClosedUpstreamMidResponseGets502WhileHeldElseTheClientIsClosed() {
        var held = ExchangeTries(mayResend: true)
        held.attached()
        held.responseHead(held: true)
        XCTAssertEqual(held.upstreamClosed(), .answer(.badGateway, "the upstream connection failed during the response\n"))
        XCTAssertTrue(held.responseStarted)
        XCTAssertFalse(held.bodyKept, "the request body copy goes once a response has begun")

        var streaming = ExchangeTries(mayResend: true)
        streaming.attached()
        streaming.responseHead(held: false)
        XCTAssertEqual(streaming.upstreamClosed(), .closeClient)
    }

    func testGivingUpATryMovesOnlyARequestThatMaySafelyGoElsewhere() {
        for reason in [UpstreamFailure.leftTable, .perTryTimeout] {
            var get = ExchangeTries(mayResend: true)
            XCTAssertEqual(get.giveUp(reason), .retry(reason, otherwise: .keep), "still connecting")
            get.attached()
            XCTAssertEqual(get.giveUp(reason), .retry(reason, otherwise: .keep), "sent, no response byte")
            get.responseHead(held: true)
            XCTAssertEqual(get.giveUp(reason), .keep, "a response byte arrived")

            var post = ExchangeTries(mayResend: false)
            post.attached()
            XCTAssertEqual(post.giveUp(reason), .keep)

            var retried = ExchangeTries(mayResend: true)
            retried.retrying()
            XCTAssertEqual(retried.giveUp(reason), .keep)

            var large = ExchangeTries(mayResend: true)
            large.bodyDropped()
            XCTAssertEqual(large.giveUp(reason), .keep)
        }
    }
}
