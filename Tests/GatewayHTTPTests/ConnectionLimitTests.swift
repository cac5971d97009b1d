@testable import GatewayHTTP
import NIOCore
import XCTest

final class ConnectionLimitTests: XCTestCase {
    func testDefaultFormula() {
        // max(16, (RLIMIT_NOFILE − 128) / 3)
        XCTAssertEqual(ConnectionLimit.defaultMaximum(descriptorLimit: 1024), 298)
        XCTAssertEqual(ConnectionLimit.defaultMaximum(descriptorLimit: 65536), 21802)
        XCTAssertEqual(ConnectionLimit.defaultMaximum(descriptorLimit: 100), 16)
        XCTAssertEqual(WeightedProxy.connectionCapacity(descriptorLimit: 1024), 298)
        XCTAssertGreaterThan(WeightedProxy.descriptorLimit(), 0)
    }

    func testAdmitsUpToTheMaximum() {
        let limit = ConnectionLimit(maximum: 2) { _, _ in }
        XCTAssertTrue(limit.admit())
        XCTAssertTrue(limit.admit())
        XCTAssertFalse(limit.admit())
        XCTAssertEqual(limit.openConnections, 2)
        limit.release()
        XCTAssertTrue(limit.admit())
        XCTAssertFalse(limit.admit())
    }

    func testShedConnectionsAreLoggedAtMostOncePerInterval() async throws {
        let lines = Locked([Int]())
        let limit = ConnectionLimit(maximum: 1, logInterval: .milliseconds(200)) { shed, maximum in
            XCTAssertEqual(maximum, 1)
            lines.withLock { $0.append(shed) }
        }
        for _ in 0..<1000 { limit.shed() }
        XCTAssertEqual(lines.withLock { $0 }, [1], "the first shed is logged at once, the rest wait for the interval")
        try await Task.sleep(for: .milliseconds(250))
        limit.shed()
        XCTAssertEqual(lines.withLock { $0 }, [1, 1000], "the next line counts every connection shed since the last")
    }
}
