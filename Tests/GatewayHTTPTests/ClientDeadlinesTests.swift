@testable import GatewayHTTP
import NIOCore
import NIOHTTP1
import XCTest

final class ClientDeadlinesTests: XCTestCase {
    private let timeouts = ClientTimeouts(
        requestHead: .seconds(10), requestBody: .seconds(30), response: .seconds(31), idle: .seconds(75)
    )

    func testWhatAConnectionWaitsFor() {
        // (exchange, draining, firstRequest, headStarted, attached, requestComplete, responseStarted) → wait
        let cases: [((Bool, Bool, Bool, Bool, Bool, Bool, Bool), ClientWait)] = [
            ((false, false, true, false, false, false, false), .firstHead),
            ((false, false, true, true, false, false, false), .head),
            ((false, false, false, false, false, false, false), .keepAlive),
            ((false, false, false, true, false, false, false), .head),
            ((false, true, false, false, false, false, false), .drain),
            ((true, false, false, false, false, false, false), .connecting),
            ((true, false, false, false, true, false, false), .requestBody),
            ((true, false, false, false, true, false, true), .requestBody),
            ((true, false, false, false, false, true, false), .connecting),
            ((true, false, false, false, true, true, false), .response),
            ((true, false, false, false, true, true, true), .responseBody),
        ]
        for (facts, want) in cases {
            let wait = ClientWait.of(
                exchange: facts.0, draining: facts.1, firstRequest: facts.2, headStarted: facts.3,
                attached: facts.4, requestComplete: facts.5, responseStarted: facts.6
            )
            XCTAssertEqual(wait, want, "\(facts)")
        }
    }

    func testEveryWaitHasADeadlineButTheConnectWhichHasItsOwn() {
        let want: [ClientWait: TimeAmount?] = [
            .firstHead: .seconds(10), .head: .seconds(10), .keepAlive: .seconds(75), .requestBody: .seconds(30),
            .drain: .seconds(30), .response: .seconds(31), .responseBody: .seconds(31), .connecting: nil,
        ]
        for wait in ClientWait.allCases {
            XCTAssertEqual(wait.timeout(timeouts), want[wait] ?? nil, "\(wait)")
        }
        // Every combination of facts lands on a wait with a deadline, or on the connect.
        for bits in 0..<128 {
            let f = (0..<7).map { bits & (1 << $0) != 0 }
            let wait = ClientWait.of(exchange: f[0], draining: f[1], firstRequest: f[2], headStarted: f[3],
                                     attached: f[4], requestComplete: f[5], responseStarted: f[6])
            XCTAssertTrue(wait.timeout(timeouts) != nil || wait == .connecting, "\(f) → \(wait)")
        }
        XCTAssertEqual(timeouts.checkPeriod, .seconds(10))
    }

    func testWhatHappensWhenAWaitIsOver() {
        let cases: [(ClientWait, Bool, Bool, ClientWaitExpiry)] = [
            (.firstHead, false, false, .close),
            (.keepAlive, false, false, .close),
            (.head, false, false, .answerAndClose(.requestTimeout)),
            (.requestBody, false, false, .answerAndClose(.requestTimeout)),
            (.requestBody, false, true, .answerAndClose(.gatewayTimeout)),
            (.requestBody, true, false, .close),
            (.response, false, false, .answer(.gatewayTimeout)),
            (.responseBody, true, false, .close),
            (.drain, false, false, .close),
            (.connecting, false, false, .none),
        ]
        for (wait, responseStarted, upstreamHeld, want) in cases {
            XCTAssertEqual(wait.expiry(responseStarted: responseStarted, upstreamHeldBody: upstreamHeld), want, "\(wait)")
        }
    }
}

final class ClientClockTests: XCTestCase {
    private let timeouts = ClientTimeouts(
        requestHead: .seconds(10), requestBody: .seconds(30), response: .seconds(31), idle: .seconds(75)
    )

    private func at(_ seconds: Int64) -> NIODeadline { .uptimeNanoseconds(UInt64(1_000 + seconds) * 1_000_000_000) }

    func testDeadlinesRunFromTheRightMoment() {
        var clock = ClientClock(now: at(0))
        XCTAssertEqual(clock.deadline(for: .firstHead, timeouts: timeouts), at(10))
        // A first head that starts late is still due 10 s after the accept.
        clock.headStartedAt = at(8)
        XCTAssertEqual(clock.deadline(for: .head, timeouts: timeouts), at(10))
        clock.requestStarted()
        XCTAssertNil(clock.headStartedAt)
        // The body: no progress noticed yet, so from the wait's start; then from when progress was noticed.
        XCTAssertEqual(clock.deadline(for: .requestBody, timeouts: timeouts), at(30))
        clock.noticeProgress(now: at(9))
        XCTAssertEqual(clock.deadline(for: .requestBody, timeouts: timeouts), at(39))
        clock.noticeProgress(now: at(20))
        XCTAssertEqual(clock.deadline(for: .requestBody, timeouts: timeouts), at(39), "no new progress, no new time")
        clock.progress &+= 1
        clock.noticeProgress(now: at(25))
        XCTAssertEqual(clock.deadline(for: .requestBody, timeouts: timeouts), at(55))
        // The response head: from the moment the upstream had the whole request.
        clock.waitSince = at(40)
        XCTAssertEqual(clock.deadline(for: .response, timeouts: timeouts), at(71))
        // Keep-alive: from the end of the exchange; a later head from its own first byte.
        clock.waitSince = at(50)
        XCTAssertEqual(clock.deadline(for: .keepAlive, timeouts: timeouts), at(125))
        clock.headStartedAt = at(100)
        XCTAssertEqual(clock.deadline(for: .head, timeouts: timeouts), at(110))
        XCTAssertEqual(clock.deadline(for: .drain, timeouts: timeouts), at(80))
        XCTAssertNil(clock.deadline(for: .connecting, timeouts: timeouts))
    }
}
