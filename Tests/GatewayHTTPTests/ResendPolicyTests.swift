import NIOCore
import NIOHTTP1
import XCTest

@testable import GatewayHTTP

/// Which methods the proxy may send twice, and how a per-try timeout shortens the connection's timer.
final class ResendPolicyTests: XCTestCase {
    func testOnlyIdempotentMethodsAreResentAndPutDeleteOnlyWhenListed() {
        let cases: [(HTTPMethod, plain: Bool, withPutDelete: Bool)] = [
            (.GET, true, true), (.HEAD, true, true), (.OPTIONS, true, true),
            (.PUT, false, true), (.DELETE, false, true),
            (.POST, false, false), (.PATCH, false, false), (.CONNECT, false, false), (.RAW(value: "PURGE"), false, false),
        ]
        let plain = ResendPolicy(), configured = ResendPolicy(alsoResend: [.put, .delete])
        for c in cases {
            XCTAssertEqual(plain.mayResend(c.0), c.plain, "\(c.0)")
            XCTAssertEqual(configured.mayResend(c.0), c.withPutDelete, "\(c.0) with PUT, DELETE listed")
        }
        XCTAssertTrue(ResendPolicy(alsoResend: [.put]).mayResend(.PUT))
        XCTAssertFalse(ResendPolicy(alsoResend: [.put]).mayResend(.DELETE))
    }

    func testPerTryTimeoutBoundsTheCheckPeriod() {
        var timeouts = ClientTimeouts(requestHead: .seconds(10), requestBody: .seconds(30), response: .seconds(30), idle: .seconds(75))
        XCTAssertEqual(timeouts.checkPeriod, .seconds(10))
        timeouts.perTry = .milliseconds(500)
        XCTAssertEqual(timeouts.checkPeriod, .milliseconds(500), "a slow try is noticed within two per-try timeouts")
        timeouts.perTry = .seconds(20)
        XCTAssertEqual(timeouts.checkPeriod, .seconds(10))
    }
}
