@testable import GatewayHTTP
import XCTest

final class LazyQueueTests: XCTestCase {
    func testAnEmptyQueueAnswersAsEmpty() {
        var queue = LazyQueue<Int>()
        XCTAssertTrue(queue.isEmpty)
        XCTAssertEqual(queue.count, 0)
        XCTAssertNil(queue.first)
        XCTAssertNil(queue.popFirst())
        XCTAssertFalse(queue.contains { _ in true })
        queue.removeAll()
        XCTAssertTrue(queue.isEmpty)
    }

    func testElementsLeaveInTheOrderTheyCame() {
        var queue = LazyQueue<Int>()
        for value in 1...5 { queue.append(value) }
        XCTAssertEqual(queue.count, 5)
        XCTAssertEqual(queue.first, 1)
        XCTAssertTrue(queue.contains { $0 == 4 })
        XCTAssertEqual(queue.popFirst(), 1)
        queue.append(6)
        var out: [Int] = []
        while let value = queue.popFirst() { out.append(value) }
        XCTAssertEqual(out, [2, 3, 4, 5, 6])
    }

    func testEmptiedItTakesNewElementsAgain() {
        var queue = LazyQueue([7, 8])
        queue.removeAll()
        XCTAssertTrue(queue.isEmpty)
        queue.append(9)
        XCTAssertEqual(queue.popFirst(), 9)
        XCTAssertTrue(LazyQueue<Int>([]).isEmpty)
    }
}
