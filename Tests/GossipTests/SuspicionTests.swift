import XCTest
@testable import Gossip

/// Lifeguard's suspicion timer and the set of suspicions a member holds.
final class SuspicionTests: XCTestCase {
    let t0 = Fixture.epoch

    func testConfirmationsShortenTheDeadlineTowardsTheMinimumAndCountOncePerAccuser() {
        // lan at N = 1,000: min 1.5 s, max 4.5 s, K = 3 (memberlist's formulas).
        var s = Suspicion(of: 1_000, at: t0, incarnation: 2, accuser: "a", settings: GossipSettings())
        XCTAssertEqual(s.minimum, .milliseconds(1_500))
        XCTAssertEqual(s.maximum, .milliseconds(4_500))
        XCTAssertEqual(s.expectedConfirmations, 3)
        XCTAssertEqual(s.deadline, t0 + .milliseconds(4_500))
        XCTAssertTrue(s.confirm(by: "b"))
        XCTAssertEqual(s.deadline, t0 + .milliseconds(3_000))
        XCTAssertFalse(s.confirm(by: "b"), "the same accuser twice is one confirmation")
        XCTAssertFalse(s.confirm(by: "a"), "the originator does not confirm itself")
        XCTAssertTrue(s.confirm(by: "c"))
        XCTAssertTrue(s.confirm(by: "d"))
        XCTAssertEqual(s.deadline, t0 + .milliseconds(1_500))
        XCTAssertTrue(s.confirm(by: "e"))
        XCTAssertEqual(s.deadline, t0 + .milliseconds(1_500), "never below the minimum")
        XCTAssertEqual(s.wake, t0 + .milliseconds(500), "the nudge comes first")
    }

    func testASmallMeshExpectsNoConfirmations() {
        // memberlist: n − 2 < K means K = 0, and the suspicion runs its maximum unless refuted.
        let s = Suspicion(of: 4, at: t0, incarnation: 0, accuser: "a", settings: GossipSettings())
        XCTAssertEqual(s.expectedConfirmations, 0)
        XCTAssertEqual(s.deadline, t0 + s.maximum)
    }

    func testDueReturnsOnlyWhatNeedsAttentionInAFixedOrder() {
        var set = Suspicions()
        XCTAssertTrue(set.due(now: t0).isEmpty)
        let settings = GossipSettings()
        for (i, name) in ["c", "a", "b"].enumerated() {
            set.set(Suspicion(of: 4, at: t0 + .milliseconds(100 * i), incarnation: 0, accuser: "x", settings: settings),
                    of: MemberKey(name: name, generation: 1))
        }
        XCTAssertEqual(set.wake, t0 + .milliseconds(500))
        XCTAssertTrue(set.due(now: t0 + .milliseconds(499)).isEmpty, "nothing before the wake")
        XCTAssertEqual(set.due(now: t0 + .milliseconds(650)).map(\.name), ["a", "c"], "sorted by name")
        XCTAssertEqual(set.confirm(MemberKey(name: "a", generation: 1), by: "y"), true)
        XCTAssertEqual(set.confirm(MemberKey(name: "a", generation: 1), by: "y"), false)
        XCTAssertNil(set.confirm(MemberKey(name: "zz", generation: 1), by: "y"))
        set.end(MemberKey(name: "a", generation: 1))
        XCTAssertNil(set[MemberKey(name: "a", generation: 1)])
        XCTAssertEqual(set.count, 2)
    }
}
