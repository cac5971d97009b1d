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
        XCTAssertFalse(s.confirm(by: "e"), "after K confirmations no more are taken (memberlist's)")
        XCTAssertEqual(s.deadline, t0 + .milliseconds(1_500), "never below the minimum")
        XCTAssertEqual(s.confirmations, 3)
        XCTAssertEqual(s.wake, t0 + .milliseconds(500), "the nudge comes first")
    }

    func testASmallMeshExpectsNoConfirmations() {
        // memberlist: n − 2 < K means K = 0: there are no confirmations to wait for, and the suspicion runs its
        // minimum unless refuted.
        var s = Suspicion(of: 4, at: t0, incarnation: 0, accuser: "a", settings: GossipSettings())
        XCTAssertEqual(s.expectedConfirmations, 0)
        XCTAssertEqual(s.deadline, t0 + s.minimum)
        XCTAssertFalse(s.confirm(by: "b"), "nor are any taken (memberlist's n ≥ k)")
    }

    func testDueReturnsOnlyWhatNeedsAttentionInAFixedOrder() {
        var set = Suspicions()
        XCTAssertTrue(set.due(now: t0).isEmpty)
        let settings = GossipSettings()
        for (i, name) in ["c", "a", "b"].enumerated() {
            set.set(Suspicion(of: 50, at: t0 + .milliseconds(100 * i), incarnation: 0, accuser: "x", settings: settings),
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

    func testDueMatchesAScanOfEverySuspicionThroughConfirmationsNudgesAndEnds() {
        // The suspicions keep their wakes in a heap with stale entries; what is due must be exactly what a scan of
        // every suspicion finds.
        var set = Suspicions()
        var rng = SystemRandomNumberGenerator()
        let settings = GossipSettings(profile: .fast)
        var now = t0
        for step in 0..<2_000 {
            let key = MemberKey(name: "m\(Int.random(in: 0..<30, using: &rng))", generation: 1)
            switch Int.random(in: 0..<5, using: &rng) {
            case 0: set.set(Suspicion(of: 50, at: now, incarnation: 0, accuser: "x", settings: settings), of: key)
            case 1: _ = set.confirm(key, by: "y\(Int.random(in: 0..<4, using: &rng))")
            case 2: set.end(key)
            case 3: set.nudged(key, next: now + .milliseconds(Int.random(in: 0..<200, using: &rng)))
            default:
                now += .milliseconds(Int.random(in: 0..<60, using: &rng))
                let expected = (0..<30).map { MemberKey(name: "m\($0)", generation: 1) }
                    .filter { set[$0].map { now >= $0.wake } ?? false }
                    .sorted { $0.name < $1.name }
                let due = set.due(now: now)
                XCTAssertEqual(due, expected, "step \(step)")
                // The caller nudges or ends each: here, ends them.
                for k in due { set.end(k) }
                if let wake = set.wake, !set.isEmpty {
                    let earliest = (0..<30).compactMap { set[MemberKey(name: "m\($0)", generation: 1)]?.wake }.min()!
                    XCTAssertLessThanOrEqual(wake, earliest, "step \(step): the wake is a lower bound")
                }
            }
        }
    }
}
