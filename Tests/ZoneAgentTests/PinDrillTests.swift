import XCTest

@testable import ZoneAgent

/// The judge of `pin` on made-up records: it holds for pinned requests that follow the table, and catches one that
/// went to another cluster, a cut one that was not refused, and one that failed after the cluster was back.
final class PinDrillTests: XCTestCase {
    typealias Request = DrillRecord.Request

    /// c2 cut at 1 s, dropped from the table at 1.5 s, healed at 5 s, served again from 5.5 s.
    func record(_ change: (inout [Request]) -> Void = { _ in }) -> DrillRecord {
        var r = DrillRecord()
        r.events = [.init(atMs: 1_000, kind: .fault, what: "cut"), .init(atMs: 5_000, kind: .recovery, what: "healed")]
        r.samples = [.init(atMs: 900, weights: ["c1": 20, "c2": 80], reasons: [:]),
                     .init(atMs: 1_600, weights: ["c1": 100, "c2": 0], reasons: [:], builtAtMs: 1_500),
                     .init(atMs: 8_000, weights: ["c1": 20, "c2": 80], reasons: [:])]
        var requests: [Request] = []
        for sent in stride(from: 0, to: 9_000, by: 100) {
            let c2: (String?, String) = switch sent {
            case ..<1_000: ("c2", "200")
            case ..<1_750: (nil, "error: timed out")
            case ..<5_500: (nil, "503")
            default: ("c2", "200")
            }
            requests += [Request(sentMs: sent, latencyMs: 1, cluster: sent < 1_000 || sent >= 5_000 ? "c2" : "c1", outcome: "200"),
                         Request(sentMs: sent, latencyMs: 1, cluster: "c1", outcome: "200", pin: "c1"),
                         Request(sentMs: sent, latencyMs: 1, cluster: c2.0, outcome: c2.1, pin: "c2")]
        }
        change(&requests)
        r.requests = requests
        return r
    }

    func failing(_ record: DrillRecord) -> [String] {
        DrillRunner.pinChecks(record: record, cluster: "c2").filter { !$0.held }.map(\.what)
    }

    func testPinnedRequestsThatFollowTheTableHold() {
        XCTAssertEqual(failing(record()), [])
        let text = DrillRunner.pinChecks(record: record(), cluster: "c2").map(\.what).joined(separator: "\n")
        XCTAssertTrue(text.contains("503, never another cluster (32 of 32)"), text)
        XCTAssertTrue(text.contains("served again 0.50 s after the heal"), text)
    }

    func testAPinnedRequestServedByAnotherClusterFails() {
        let astray = record {
            let i = $0.firstIndex { $0.pin == "c2" && $0.sentMs == 3_000 }!
            $0[i].outcome = "200"
            $0[i].cluster = "c1"
        }
        XCTAssertEqual(failing(astray).count, 1)
        XCTAssertTrue(failing(astray)[0].contains("while the table lacked it"), "\(failing(astray))")
        let live = record { $0[$0.firstIndex { $0.pin == "c1" }!].cluster = "c2" }
        XCTAssertTrue(failing(live).first?.hasPrefix("every request pinned to c1") == true, "\(failing(live))")
    }

    func testAFailureAfterThePinnedClusterCameBackFails() {
        let r = record { $0[$0.firstIndex { $0.pin == "c2" && $0.sentMs == 7_000 }!].outcome = "502" }
        XCTAssertTrue(failing(r).first?.contains("served again") == true, "\(failing(r))")
    }

    func testAnUnpinnedFailureFails() {
        let r = record { $0[$0.firstIndex { $0.pin == nil && $0.sentMs == 3_000 }!].outcome = "error: reset" }
        XCTAssertTrue(failing(r).first?.hasPrefix("no unpinned request failed (1") == true, "\(failing(r))")
    }
}
