import XCTest

@testable import ZoneAgent

/// The gateway's table timer wakes when a digest lease runs out, not only on mesh events.
final class GatewayTimerTests: XCTestCase {
    let t0 = ContinuousClock.now
    let wall: UInt64 = 1_764_039_600_000

    func testWakesWhenTheNextLeaseRunsOut() {
        let cases: [(rebuildAt: Duration?, expiresIn: Int64?, wakeIn: Duration)] = [
            (nil, nil, .seconds(1)),                          // nothing pending: the once-a-second pass
            (nil, 300, .milliseconds(300)),                   // a lease runs out in 300 ms
            (.milliseconds(200), 300, .milliseconds(200)),    // a ramp step comes first
            (.milliseconds(900), 300, .milliseconds(300)),
            (nil, 5_000, .seconds(1)),                        // far off: the regular pass comes first
            (nil, 10, .milliseconds(50)),                     // never a spin, however close
            (nil, -2_000, .milliseconds(50)),                 // already past (the rebuild has not landed yet)
        ]
        for c in cases {
            let expiry = c.expiresIn.map { UInt64(Int64(wall) + $0) }
            let wake = GatewayLoop.nextWake(rebuildAt: c.rebuildAt.map { t0 + $0 }, leaseExpiryMillis: expiry, now: t0,
                                            wallClockMillis: wall)
            XCTAssertEqual(t0.duration(to: wake), c.wakeIn, "\(c)")
        }
    }
}
