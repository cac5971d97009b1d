import Foundation
import WeightTable
import XCTest

@testable import ZoneAgent

/// `zone-agent drill --failover FILE`: the fragment merged into the local mesh's gateway, and the expectations that
/// follow the policy (where a cut cluster's share goes, what an isolated gateway serves).
final class DrillPolicyTests: XCTestCase {
    let three: Set<String> = ["c1", "c2", "c3"]

    func testAFragmentBecomesTheGatewaysFailoverEntriesAndTheGatewayReadsThemBack() throws {
        let policy = try DrillPolicy.parse("""
        failover:
          priority: [[c1, c2], [c3]]
          minHealthy: { percent: 50 }
          whenNoneHealthy: none
          vouching: alive-or-suspect
          holdDown: 2s
        """, file: "p.yaml", clusters: three)
        XCTAssertEqual(policy.gatewayEntries,
                       "priority: [[c1, c2], [c3]], minHealthy: { percent: 50 }, whenNoneHealthy: none, vouching: alive-or-suspect")
        XCTAssertEqual(policy.holdDown, .seconds(2))

        let dir = NSTemporaryDirectory() + "drill-policy-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var layout = LocalMesh.Layout()
        layout.clusters = ["c1": 60, "c2": 20, "c3": 20]
        layout.failoverExtra = policy.gatewayEntries
        let mesh = try LocalMesh(directory: dir, binary: "/bin/false", layout: layout)
        defer { mesh.stopAll() }
        try mesh.writeConfiguration()
        let config = try Config.load(path: dir + "/gateway.yaml", role: .gateway, environment: [:])
        XCTAssertEqual(config.failover.traffic.priority, [["c1", "c2"], ["c3"]])
        XCTAssertEqual(config.failover.traffic.minHealthy, .percent(50))
        XCTAssertEqual(config.failover.traffic.whenNoneHealthy, TrafficPolicy.NoneHealthy.none)
        XCTAssertEqual(config.failover.vouching, .aliveOrSuspect)
        XCTAssertEqual(config.failover.holdDown, .seconds(10), "the mesh's own hold-down stays unless the drill sets it")
    }

    func testTheDefaultsAddNothingAndABadFragmentNamesTheKey() throws {
        XCTAssertEqual(try DrillPolicy.parse("failover: { whenNoneHealthy: last-good }", file: "p", clusters: three).gatewayEntries, "")
        XCTAssertEqual(DrillPolicy().label, "default policy")
        let bad: [(String, String)] = [
            ("failover: { priority: [[c1], [c9]] }", "failover.priority[1][0]"),
            ("failover: { whenNoneHealthy: maybe }", "failover.whenNoneHealthy"),
            ("failover: { vouching: anyone }", "failover.vouching"),
            ("failover: { proxy: {} }", "failover.proxy"),
            ("routes: []", "routes"),
        ]
        for (text, key) in bad {
            XCTAssertThrowsError(try DrillPolicy.parse(text, file: "p.yaml", clusters: three), text) { error in
                XCTAssertEqual((error as? ConfigError)?.key, key, "\(error)")
            }
        }
    }

    func testTheClustersThatTakeACutClustersShare() {
        let clusters = ["c1", "c2", "c3"]
        XCTAssertEqual(DrillPolicy().takers(of: ["c1"], clusters: clusters), ["c2", "c3"], "proportional: every live cluster")
        var p = DrillPolicy()
        p.traffic.priority = [["c1", "c2"], ["c3"]]
        XCTAssertEqual(p.takers(of: ["c1"], clusters: clusters), ["c2"], "its own group first")
        XCTAssertEqual(p.takers(of: ["c1", "c2"], clusters: clusters), ["c3"], "the next group when its own has no one")
        XCTAssertEqual(p.takers(of: ["c3"], clusters: clusters), ["c1", "c2"], "from the last group back to the first")
        p.traffic.priority = [["c1"]]
        XCTAssertEqual(p.takers(of: ["c1"], clusters: clusters), ["c2", "c3"], "unnamed clusters form a last group")
    }

    func testATableHoldsThePolicyOnlyWhenTheShareWentWhereItSays() {
        let configured = ["c1": 60, "c2": 20, "c3": 20]
        var p = DrillPolicy()
        p.traffic.priority = [["c1", "c2"], ["c3"]]
        XCTAssertTrue(p.holds(["c1": 0, "c2": 80, "c3": 20], configured: configured, cut: ["c1"]).held)
        let proportional = p.holds(["c1": 0, "c2": 50, "c3": 50], configured: configured, cut: ["c1"])
        XCTAssertFalse(proportional.held)
        XCTAssertTrue(proportional.why.contains("c3 at 50"), proportional.why)
        XCTAssertTrue(DrillPolicy().holds(["c1": 0, "c2": 50, "c3": 50], configured: configured, cut: ["c1"]).held)
        XCTAssertFalse(DrillPolicy().holds(["c1": 5, "c2": 50, "c3": 45], configured: configured, cut: ["c1"]).held, "the cut one must be 0")
    }

    // MARK: isolate-gateway

    /// A record of an isolation: fault at 1 s, the fallback from 2 s, recovery at 5 s, the weights back at 6 s.
    func isolation(fallback: String, during: [String: Int], refusedAt: [Int] = []) -> DrillRecord {
        var r = DrillRecord()
        r.events = [.init(atMs: 1000, kind: .fault, what: "cut"), .init(atMs: 5000, kind: .recovery, what: "healed")]
        let configured = ["c1": 20, "c2": 80]
        for at in stride(from: 0, to: 8000, by: 100) {
            let cut = at >= 2000 && at < 6000
            r.samples.append(.init(atMs: at, weights: cut ? during : configured, reasons: [:], fallback: cut ? fallback : nil))
            let refused = refusedAt.contains(at)
            r.requests.append(.init(sentMs: at, latencyMs: 1, cluster: refused ? nil : "c2", outcome: refused ? "503" : "200"))
        }
        return r
    }

    func testIsolationChecksFollowWhenNoneHealthy() {
        let configured = ["c1": 20, "c2": 80]
        let lastGood = DrillRunner.isolationChecks(record: isolation(fallback: "last-good", during: configured), configured: configured, rule: .lastGood)
        XCTAssertTrue(lastGood.allSatisfy(\.held), "\(lastGood)")
        let all = DrillRunner.isolationChecks(record: isolation(fallback: "all", during: configured), configured: configured, rule: .all)
        XCTAssertTrue(all.allSatisfy(\.held), "\(all)")
        let wrongRule = DrillRunner.isolationChecks(record: isolation(fallback: "last-good", during: configured), configured: configured, rule: .none)
        XCTAssertFalse(wrongRule.allSatisfy(\.held), "a gateway that kept serving under `none` did not fail closed")

        let closed = isolation(fallback: "none", during: ["c1": 0, "c2": 0], refusedAt: Array(stride(from: 2000, to: 6000, by: 100)))
        let none = DrillRunner.isolationChecks(record: closed, configured: configured, rule: .none)
        XCTAssertTrue(none.allSatisfy(\.held), "503 while cut off is what `none` promises: \(none)")
        let early = isolation(fallback: "none", during: ["c1": 0, "c2": 0], refusedAt: [200, 2500])
        XCTAssertFalse(DrillRunner.isolationChecks(record: early, configured: configured, rule: .none).allSatisfy(\.held),
                       "a 503 before the gateway fell back is a failure")
        var failing = isolation(fallback: "last-good", during: configured)
        failing.requests[30].outcome = "error: timeout"
        XCTAssertFalse(DrillRunner.isolationChecks(record: failing, configured: configured, rule: .lastGood).allSatisfy(\.held))
    }

    func testTheGossipCutDropsOnlyTheGossipPort() {
        let rules = LocalDrillTarget.gossipCut(of: "127.7.99.0/24")
        // Rule: INPUT, -s|-d, subnet, -p, proto, --sport|--dport, 7946, -j, DROP.
        XCTAssertEqual(Set(rules.map { "\($0[1]) \($0[4]) \($0[5])" }).count, 8, "UDP and TCP, both ways, either port")
        for rule in rules {
            XCTAssertEqual(rule[2], "127.7.99.0/24")
            XCTAssertEqual(Array(rule.suffix(3)), ["7946", "-j", "DROP"], "only the gossip port: requests still pass")
        }
    }

    /// The policies the README's table names are shipped and parse for the mesh each row drills.
    func testShippedPoliciesParse() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let dir = root.appendingPathComponent("deploy/drills/policies").path
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".yaml") }.sorted()
        XCTAssertEqual(names, ["fail-closed.yaml", "fail-open.yaml", "min-healthy.yaml", "priority.yaml", "vouch-suspect.yaml"])
        for name in names { XCTAssertNoThrow(try DrillPolicy.load(path: dir + "/" + name, clusters: three), name) }
    }

    func testLocalMeshWeights() {
        XCTAssertEqual(DrillCommand.parseWeights("c1=60,c2=20,c3=20"), ["c1": 60, "c2": 20, "c3": 20])
        XCTAssertNil(DrillCommand.parseWeights("c1=60,c2=20"), "must sum to 100")
        XCTAssertNil(DrillCommand.parseWeights("c1=100"), "two clusters at least")
        XCTAssertNil(DrillCommand.parseWeights("east=50,west=50"), "the local mesh names its clusters c1…c8")
        XCTAssertNil(DrillCommand.parseWeights("c1=50,c1=50"))
    }
}
