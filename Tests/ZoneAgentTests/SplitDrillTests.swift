import Foundation
import XCTest

@testable import ZoneAgent

/// `split-mesh`'s judgement on hand-made records of its two gateways: each serves its own side while split, both
/// come back to one table after the heal.
final class SplitDrillTests: XCTestCase {
    let configured = ["c1": 20, "c2": 80]
    let sides = [SplitSide(gateway: DrillGateway(name: "gateway", proxyURL: "", host: "", adminURL: ""), clusters: ["c1"]),
                 SplitSide(gateway: DrillGateway(name: "gateway-b", proxyURL: "", host: "", adminURL: ""), clusters: ["c2"])]

    /// A split at 1 s healed at 3 s: the gateway's table moves to `during` at `movedAt` and back at `backAt`, where
    /// it takes the shared hash; requests every 20 ms, the one sent at 1.1 s caught by the cut for `caughtMs`.
    func record(during: (Int, Int), movedAt: Int, backAt: Int, own: String, caughtMs: Double = 600) -> DrillRecord {
        var r = DrillRecord()
        r.events = [.init(atMs: 1_000, kind: .fault, what: "split"), .init(atMs: 3_000, kind: .recovery, what: "heal")]
        for t in stride(from: 0, to: 5_000, by: 100) {
            let split = t >= movedAt && t < backAt
            let w = split ? during : (20, 80)
            r.samples.append(.init(atMs: t, weights: ["c1": w.0, "c2": w.1], reasons: [:],
                                   hash: t < backAt ? (split ? "split-" + own : "before") : "after"))
        }
        for t in stride(from: 0, to: 5_000, by: 20) {
            r.requests.append(.init(sentMs: t, latencyMs: t == 1_100 ? caughtMs : 2, cluster: own, outcome: "200"))
        }
        return r
    }

    func testEachGatewayServesItsOwnSideAndBothComeBackToOneTable() {
        let a = record(during: (100, 0), movedAt: 1_300, backAt: 3_800, own: "c1")
        let b = record(during: (0, 100), movedAt: 1_500, backAt: 4_100, own: "c2")
        let (checks, gateways) = DrillRunner.splitJudgement(records: [a, b], sides: sides, configured: configured, policy: DrillPolicy())
        XCTAssertTrue(checks.allSatisfy(\.held), "\(checks)")
        XCTAssertEqual(gateways.map(\.name), ["gateway", "gateway-b"])
        XCTAssertEqual(gateways.map(\.cluster), ["c2", "c1"], "each follows the other side's cluster")
        XCTAssertEqual(gateways.map(\.figures.failoverTableSeconds), [0.3, 0.5])
        XCTAssertEqual(gateways.map(\.figures.failbackSeconds), [0.8, 1.1])
        XCTAssertTrue(checks.contains { $0.what.hasPrefix("gateway-b served its own side until the heal: went to c2 (table while split: c1 0 / c2 100)") }, "\(checks)")
        XCTAssertTrue(checks.contains { $0.what.hasPrefix("1 requests through gateway caught by the cut") }, "\(checks)")
        // Agreeing only once the later gateway is back: 1.1 s after the heal.
        XCTAssertTrue(checks.contains { $0.what.contains("hash after") && $0.what.hasSuffix("1.10 s after the heal)") }, "\(checks)")
    }

    /// A table built at 1.25 s is first seen at 1.3 s; the sample before it, seen at 1.28 s, still shows the old table
    /// (its answer left the gateway before the rebuild). That is no evidence the other side came back: the split
    /// is judged from the drop's sample on.
    func testASampleTakenBeforeTheDropButSeenAfterItsBuildTimeIsNotJudgedAsSplit() {
        var a = record(during: (100, 0), movedAt: 1_300, backAt: 3_800, own: "c1")
        let drop = a.samples.firstIndex { $0.atMs == 1_300 }!
        a.samples[drop].builtAtMs = 1_250
        a.samples.insert(.init(atMs: 1_280, weights: ["c1": 20, "c2": 80], reasons: [:], hash: "before"), at: drop)
        let b = record(during: (0, 100), movedAt: 1_500, backAt: 4_100, own: "c2")
        let (checks, gateways) = DrillRunner.splitJudgement(records: [a, b], sides: sides, configured: configured, policy: DrillPolicy())
        XCTAssertTrue(checks.allSatisfy(\.held), "\(checks)")
        XCTAssertEqual(gateways[0].figures.failoverTableSeconds, 0.25, "the move is still timed by the table's build")

        // A sample taken after the drop that shows the other side again is judged, and fails.
        a.samples[drop + 3].weights = ["c1": 20, "c2": 80]
        let again = DrillRunner.splitJudgement(records: [a, b], sides: sides, configured: configured, policy: DrillPolicy()).checks
        XCTAssertTrue(again.contains { !$0.held && $0.what.hasPrefix("gateway served its own side until the heal") }, "\(again)")
    }

    /// The report carries both gateways: each with its own chart and figures in the page, and in the JSON.
    func testTheReportShowsBothGateways() throws {
        let a = record(during: (100, 0), movedAt: 1_300, backAt: 3_800, own: "c1")
        let b = record(during: (0, 100), movedAt: 1_500, backAt: 4_100, own: "c2")
        let (checks, gateways) = DrillRunner.splitJudgement(records: [a, b], sides: sides, configured: configured, policy: DrillPolicy())
        let report = DrillReport(scenario: .splitMesh, cluster: "c2", profile: "lan", startedAt: Date(), rate: 50, configured: configured,
                                 record: a, figures: gateways[0].figures, checks: checks, gateways: gateways)
        let page = DrillHTML.render([report])
        XCTAssertTrue(page.contains("gateway, the side of c1") && page.contains("gateway-b, the side of c2"))
        XCTAssertEqual(page.components(separatedBy: "<svg").count - 1, 2, "one chart per gateway")
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: report.json()) as? [String: Any])
        XCTAssertEqual((json["gateways"] as? [[String: Any]])?.compactMap { $0["name"] as? String }, ["gateway", "gateway-b"])
    }

    /// With two clusters across the cut, a request's try and its one retry can both cross it: 502 before the table
    /// moved is allowed there, and only there.
    func testTwoClustersAcrossTheCutAllowA502BeforeTheTableMovedOnly() {
        let three = ["c1": 60, "c2": 20, "c3": 20]
        func record(_ failures: [(Int, String)]) -> DrillRecord {
            var r = DrillRecord()
            r.events = [.init(atMs: 1_000, kind: .fault, what: "split"), .init(atMs: 3_000, kind: .recovery, what: "heal")]
            for t in stride(from: 0, to: 5_000, by: 100) {
                let split = t >= 1_300 && t < 3_800
                r.samples.append(.init(atMs: t, weights: split ? ["c1": 100, "c2": 0, "c3": 0] : three, reasons: [:], hash: split ? "b" : "same"))
            }
            r.requests = failures.map { .init(sentMs: $0.0, latencyMs: 2_000, cluster: nil, outcome: $0.1) }
            return r
        }
        let sides = [SplitSide(gateway: self.sides[0].gateway, clusters: ["c2", "c3"]), SplitSide(gateway: self.sides[1].gateway, clusters: ["c1"])]
        let a = DrillRecord(requests: [], samples: record([]).samples.map {
            var s = $0
            if s.hash == "b" { s.weights = ["c1": 0, "c2": 50, "c3": 50]; s.hash = "a" }
            return s
        }, events: record([]).events)
        let held = DrillRunner.splitJudgement(records: [a, record([(1_100, "502")])], sides: sides, configured: three, policy: DrillPolicy()).checks
        XCTAssertTrue(held.allSatisfy(\.held), "\(held)")
        let failed = DrillRunner.splitJudgement(records: [a, record([(1_100, "502"), (2_000, "502")])], sides: sides, configured: three,
                                                policy: DrillPolicy()).checks.filter { !$0.held }.map(\.what)
        XCTAssertEqual(failed.count, 1, "\(failed)")
        XCTAssertTrue(failed[0].contains("(502: 1, others: 1, of 2)"), "\(failed)")
    }

    func testAGatewayThatKeepsTheOtherSideOrHangsTooLongOrDisagreesFails() {
        let a = record(during: (100, 0), movedAt: 1_300, backAt: 3_800, own: "c1", caughtMs: 5_000)
        var b = record(during: (20, 80), movedAt: 1_500, backAt: 4_100, own: "c2")
        for i in b.samples.indices where b.samples[i].atMs >= 4_100 { b.samples[i].hash = "other" }
        let (checks, _) = DrillRunner.splitJudgement(records: [a, b], sides: sides, configured: configured, policy: DrillPolicy())
        let failed = checks.filter { !$0.held }.map(\.what)
        XCTAssertTrue(failed.contains { $0.hasPrefix("gateway-b dropped the other side's c1") }, "\(failed)")
        XCTAssertTrue(failed.contains { $0.hasPrefix("gateway-b served its own side") }, "\(failed)")
        XCTAssertTrue(failed.contains { $0.hasPrefix("1 requests through gateway caught by the cut") }, "a 5 s hang is past its bound: \(failed)")
        XCTAssertTrue(failed.contains { $0.hasPrefix("both gateways at the configured weights with the same table") }, "\(failed)")
    }
}
