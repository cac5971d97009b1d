import XCTest
@testable import Gossip

/// Lifeguard's local health score (memberlist's awareness): bounded, and the factor timeouts scale by.
final class LocalHealthTests: XCTestCase {
    func testScoreStaysWithinItsBoundsAndScalesTimeouts() {
        var health = LocalHealth(maximum: 8)
        XCTAssertEqual(health.scale, 1)
        XCTAssertTrue(health.isHealthy)
        health.adjust(by: -1)
        XCTAssertEqual(health.score, 0, "never below healthy")
        for _ in 0..<20 { health.adjust(by: 1) }
        XCTAssertEqual(health.score, 8, "never above the maximum")
        XCTAssertEqual(health.scale, 9)
        health.adjust(by: -3)
        XCTAssertEqual(health.scale, 6)
        XCTAssertFalse(health.isHealthy)
    }

    func testTwoProbesInARowThatNoOneAnsweredMeanCutOffAndOneAnswerEndsIt() {
        var health = LocalHealth(maximum: 8)
        XCTAssertFalse(health.noteUnanswered(), "one can be bad luck")
        XCTAssertFalse(health.isCutOff)
        XCTAssertFalse(health.noteAnswered(), "an answer between resets the count, and was no news")
        XCTAssertFalse(health.noteUnanswered())
        XCTAssertTrue(health.noteUnanswered(), "the second in a row is the news")
        XCTAssertTrue(health.isCutOff)
        XCTAssertFalse(health.noteUnanswered(), "still cut off: no news")
        XCTAssertTrue(health.noteAnswered(), "back in touch: news")
        XCTAssertFalse(health.isCutOff)
        XCTAssertEqual(health.score, 0, "the count is apart from the score")
    }
}
