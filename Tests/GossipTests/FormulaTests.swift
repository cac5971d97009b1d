import XCTest
@testable import Gossip

/// Table tests of the pure formulas: every default the profiles derive goes through these.
final class FormulaTests: XCTestCase {
    func testLogScale() {
        let table: [(n: Int, expected: Int)] = [(0, 1), (1, 1), (9, 1), (10, 2), (99, 2), (100, 3), (999, 3), (1000, 4), (9999, 4), (10_000, 5)]
        for row in table { XCTAssertEqual(GossipFormulas.logScale(row.n), row.expected, "n=\(row.n)") }
    }

    func testRetransmitLimit() {
        let table: [(mult: Int, n: Int, expected: Int)] = [(4, 1, 4), (4, 50, 8), (4, 1000, 16), (6, 8, 6), (5, 10_000, 25)]
        for row in table { XCTAssertEqual(GossipFormulas.retransmitLimit(mult: row.mult, n: row.n), row.expected, "\(row)") }
    }

    func testSuspicionMinimum() {
        let table: [(mult: Int, n: Int, interval: Duration, expected: Duration)] = [
            (1, 0, .milliseconds(500), .milliseconds(500)),
            (1, 5, .milliseconds(500), .milliseconds(500)),
            (1, 10, .milliseconds(500), .milliseconds(500)),
            (1, 50, .milliseconds(500), .milliseconds(849)),
            (1, 999, .milliseconds(500), .milliseconds(1500)),
            (1, 1000, .milliseconds(500), .milliseconds(1500)),
            (1, 10_000, .milliseconds(500), .seconds(2)),
            (2, 9, .seconds(2), .seconds(4)),
            (1, 8, .milliseconds(100), .milliseconds(100)),
        ]
        for row in table {
            XCTAssertEqual(GossipFormulas.suspicionMinimum(mult: row.mult, n: row.n, probeInterval: row.interval), row.expected, "\(row)")
        }
    }

    func testRemainingSuspicionTime() {
        // Lifeguard's shape with memberlist's reference values: min 2 s, max 30 s, k = 3.
        let table: [(c: Int, k: Int, elapsed: Duration, expected: Duration)] = [
            (0, 3, .zero, .seconds(30)),
            (1, 3, .zero, .seconds(16)),
            (2, 3, .zero, .milliseconds(7811)),
            (3, 3, .zero, .seconds(2)),
            (4, 3, .zero, .seconds(2)),
            (0, 3, .seconds(1), .seconds(29)),
            (3, 3, .seconds(3), .seconds(-1)),
            (0, 0, .zero, .seconds(2)),
        ]
        for row in table {
            let got = GossipFormulas.remainingSuspicionTime(confirmations: row.c, k: row.k, elapsed: row.elapsed,
                                                            min: .seconds(2), max: .seconds(30))
            XCTAssertEqual(got, row.expected, "confirmations \(row.c), elapsed \(row.elapsed)")
        }
    }

    func testStaleViewWindow() {
        // The longest suspicion plus two probe periods: 1.5 s + 1 s at lan for N ≤ 10, 0.3 s + 0.2 s at fast.
        let table: [(profile: GossipProfile, n: Int, expected: Duration)] = [
            (.lan, 7, .milliseconds(2500)), (.lan, 1000, .milliseconds(5500)), (.fast, 7, .milliseconds(500)), (.wan, 7, .seconds(20)),
        ]
        for row in table {
            XCTAssertEqual(GossipFormulas.staleViewWindow(settings: GossipSettings(profile: row.profile), n: row.n), row.expected, "\(row)")
        }
    }

    func testPushPullScale() {
        let table: [(n: Int, expected: Int)] = [(1, 1), (32, 1), (33, 2), (64, 2), (65, 3), (1000, 32), (10_000, 313)]
        for row in table { XCTAssertEqual(GossipFormulas.pushPullScale(n: row.n), row.expected, "n=\(row.n)") }
    }

    func testNaturalLog() {
        for (x, ln) in [(1.0, 0.0), (2.0, 0.6931471805599453), (10.0, 2.302585092994046), (0.5, -0.6931471805599453)] {
            XCTAssertEqual(naturalLog(x), ln, accuracy: 1e-12)
        }
    }

    func testProfilesKeepTheirDocumentedValues() {
        let lan = GossipSettings(profile: .lan)
        XCTAssertEqual(lan.probeInterval, .milliseconds(500))
        XCTAssertEqual(lan.probeTimeout, .milliseconds(250))
        XCTAssertEqual(GossipSettings(), lan)
        let fast = GossipSettings(profile: .fast)
        XCTAssertLessThanOrEqual(GossipFormulas.detectionBound(settings: fast, n: 8), .seconds(2))
        let wan = GossipSettings(profile: .wan)
        XCTAssertGreaterThan(wan.probeInterval, lan.probeInterval)
        for profile in GossipProfile.allCases {
            let s = GossipSettings(profile: profile)
            XCTAssertLessThan(s.probeTimeout, s.probeInterval, "\(profile): the timeout must end inside the period")
            XCTAssertLessThan(s.gossipInterval, s.probeInterval)
        }
    }
}

final class TransmitQueueTests: XCTestCase {
    private func ack(_ n: UInt32) -> GossipMessageStub { GossipMessageStub(n) }

    func testNewerUpdateReplacesOlderAndLimitDropsIt() {
        var q = TransmitQueue(capacity: 10)
        q.enqueue(ack(1).message, key: "m:a", size: 10)
        q.enqueue(ack(2).message, key: "m:a", size: 10)
        XCTAssertEqual(q.count, 1)
        let first = q.take(budget: 100, limit: 2)
        XCTAssertEqual(first.messages, [ack(2).message])
        _ = q.take(budget: 100, limit: 2)
        XCTAssertTrue(q.isEmpty, "dropped after its retransmit limit")
    }

    func testLeastSentThenNewestFirstWithinBudget() {
        var q = TransmitQueue(capacity: 10)
        q.enqueue(ack(1).message, key: "a", size: 40)
        q.enqueue(ack(2).message, key: "b", size: 40)
        XCTAssertEqual(q.take(budget: 50, limit: 9).messages, [ack(2).message], "newest first")
        XCTAssertEqual(q.take(budget: 50, limit: 9).messages, [ack(1).message], "then the least sent")
        q.enqueue(ack(3).message, key: "c", size: 40)
        XCTAssertEqual(q.take(budget: 200, limit: 9).messages, [ack(3).message, ack(2).message, ack(1).message])
    }

    func testCapacityDropsTheMostSent() {
        var q = TransmitQueue(capacity: 2)
        q.enqueue(ack(1).message, key: "a", size: 10)
        _ = q.take(budget: 10, limit: 9)
        q.enqueue(ack(2).message, key: "b", size: 10)
        q.enqueue(ack(3).message, key: "c", size: 10)
        XCTAssertEqual(q.entries.map(\.key), ["b", "c"])
    }
}

import Wire

struct GossipMessageStub {
    let message: GossipMessage
    init(_ n: UInt32) { message = .ack(Ack(sequence: n, source: "x")) }
}
