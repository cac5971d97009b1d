import XCTest

@testable import GatewayHTTP

/// Backpressure on reads: held while asked, one held read issued on release, none when none was asked for.
final class ReadHoldTests: XCTestCase {
    func testAHeldReadIsIssuedOnceOnReleaseAndOnlyIfAskedFor() {
        var reads = ReadHold()
        XCTAssertTrue(reads.admit(), "not held: reads go through")
        XCTAssertFalse(reads.hold(true))
        XCTAssertFalse(reads.admit())
        XCTAssertFalse(reads.admit(), "asked twice, remembered once")
        XCTAssertTrue(reads.hold(false), "the held read now")
        XCTAssertFalse(reads.hold(false), "and only once")
        XCTAssertFalse(reads.hold(true))
        XCTAssertFalse(reads.hold(false), "nothing was asked for while held")
    }

    func testEndingTheHoldIssuesNothingButLetsTheNextReadThrough() {
        var reads = ReadHold()
        _ = reads.hold(true)
        XCTAssertFalse(reads.admit())
        reads.end()
        XCTAssertFalse(reads.isHeld)
        XCTAssertTrue(reads.admit())
    }
}
