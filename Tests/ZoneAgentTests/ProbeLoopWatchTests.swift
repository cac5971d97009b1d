import Foundation
import GatewayHTTP
import Logging
import NIOCore
import XCTest

@testable import ZoneAgent

/// An agent whose probe loop stops completing rounds fails `/healthz`, so Kubernetes restarts it instead of
/// letting it gossip a stale health status.
final class ProbeLoopWatchTests: XCTestCase {
    let t0 = ContinuousClock.now

    func problem(stalledFor stalled: Duration, interval: Duration, timeout: Duration) -> String? {
        ProbeLoopWatch.problem(lastRoundAt: t0, now: t0 + stalled, interval: interval, timeout: timeout)
    }

    func testAllowanceIsThreeRoundsButNeverUnderTenSeconds() {
        let cases: [(interval: Duration, timeout: Duration, allowance: Duration)] = [
            (.seconds(1), .milliseconds(500), .seconds(10)),          // 3.5 s → the 10 s floor
            (.milliseconds(100), .milliseconds(50), .seconds(10)),    // the fastest allowed probing
            (.seconds(3), .seconds(1), .seconds(10)),                 // exactly 10 s
            (.seconds(5), .seconds(2), .seconds(17)),
            (.seconds(10), .seconds(10), .seconds(40)),               // the slowest allowed probing
        ]
        for c in cases {
            XCTAssertEqual(ProbeLoopWatch.allowance(interval: c.interval, timeout: c.timeout), c.allowance, "\(c)")
        }
    }

    func testHealthyUntilTheAllowanceThenAReasonNamingIt() throws {
        XCTAssertNil(problem(stalledFor: .zero, interval: .seconds(1), timeout: .milliseconds(500)))
        XCTAssertNil(problem(stalledFor: .seconds(10), interval: .seconds(1), timeout: .milliseconds(500)), "at the limit: still fine")
        let reason = try XCTUnwrap(problem(stalledFor: .milliseconds(10_001), interval: .seconds(1), timeout: .milliseconds(500)))
        XCTAssertEqual(reason, "probe loop stalled: no probe round completed for 10001ms (allowed 10s: max(3 × probe.interval + probe.timeout, 10s))")
        XCTAssertNil(problem(stalledFor: .seconds(17), interval: .seconds(5), timeout: .seconds(2)))
        XCTAssertEqual(problem(stalledFor: .seconds(95), interval: .seconds(5), timeout: .seconds(2)),
                       "probe loop stalled: no probe round completed for 95s (allowed 17s: max(3 × probe.interval + probe.timeout, 10s))")
    }

    func testAClockThatSeemsToRunBackwardsIsNoStall() {
        XCTAssertNil(ProbeLoopWatch.problem(lastRoundAt: t0 + .seconds(5), now: t0, interval: .seconds(1), timeout: .seconds(1)))
    }
}

extension ConfigTests {
    /// The agent's `/healthz` consults its probe loop: a stalled loop answers 503 with the reason, so Kubernetes'
    /// liveness probe restarts the agent; without the check (the gateway) or with a healthy loop, 200.
    func testAgentHealthzFailsWhileItsProbeLoopIsStalled() async throws {
        let config = try load(agentYAML)
        let mesh = try MeshRuntime(config: config, logger: Logger(label: "test"))
        let stalled = "probe loop stalled: no probe round completed for 42s (allowed 10s: max(3 × probe.interval + probe.timeout, 10s))"
        let reason = ProbeStallReason<String?>(stalled)
        let api = AdminAPI(mesh: mesh, table: nil, gossipStall: { .zero }, probeStall: { reason.value })
        let failing = await api.handle(HTTPServerRequest(method: .GET, uri: "/healthz"))
        XCTAssertEqual(failing.status, .serviceUnavailable)
        XCTAssertEqual(String(buffer: failing.body), stalled + "\n")

        reason.value = nil
        let fine = await api.handle(HTTPServerRequest(method: .GET, uri: "/healthz"))
        XCTAssertEqual(fine.status, .ok)
        let noCheck = AdminAPI(mesh: mesh, table: nil, gossipStall: { .zero })
        let unchecked = await noCheck.handle(HTTPServerRequest(method: .GET, uri: "/healthz"))
        XCTAssertEqual(unchecked.status, .ok)
    }
}

/// A value shared with a `@Sendable` closure in a test.
final class ProbeStallReason<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
