import Foundation
import MeshCrypto
import XCTest

@testable import ZoneAgent

/// Every change an operator makes is a live one, with real processes on loopback: the Ingress edited (and a bad edit
/// refused while the running routes keep serving), SIGHUP, and both key rotations of the issue, all under a request
/// stream that must see no failure.
final class LiveReloadProcessTests: XCTestCase {
    var mesh: LocalMesh!

    override func setUp() async throws {
        var layout = LocalMesh.Layout()
        layout.agentsPerCluster = 2
        layout.holdDown = "1s"
        layout.slowStart = "1s"
        mesh = try await BuiltBinary.steadyMesh("reload", layout: layout)
    }

    override func tearDown() async throws {
        mesh.stopAll()
        try? FileManager.default.removeItem(atPath: mesh.dir)
    }

    func testIngressEditsApplyWithinASecondABadOneIsRefusedAndNoRequestFails() async throws {
        let stopped = StopFlag()
        let stream = mesh.stream { stopped.isSet }

        let before = try await reloads("gateway")
        try mesh.write("ingress-demo.yaml", Self.ingress(c1: 50, c2: 50))
        let applied = try await mesh.waitFor("the table at 50/50", timeout: .seconds(5)) { await mesh.weights() == ["c1": 50, "c2": 50] }
        print("reload: an Ingress edit in the table \(applied) after the write")
        XCTAssertLessThan(applied, .seconds(2), "a reload takes effect within about a second (1 s aim, loaded test machine)")
        let afterGood = try await reloads("gateway")
        XCTAssertEqual(afterGood, before + 1)

        // Weights that do not sum to 100: refused with a log line and a metric naming the file, the key and the problem.
        try mesh.write("ingress-demo.yaml", Self.ingress(c1: 30, c2: 80))
        try await mesh.waitFor("the refusal in the gateway's metrics", timeout: .seconds(5)) {
            let metrics = (try? await mesh.get(mesh.adminURL + "/metrics").body) ?? ""
            return metrics.split(separator: "\n").contains {
                $0.hasPrefix("zone_agent_config_refused{") && $0.contains("ingress-demo.yaml") && $0.contains("cluster-weight.c2")
                    && $0.split(separator: " ").last.flatMap { Double($0) } == 1
            }
        }
        // The metric is set just before the line is logged: wait for the line rather than race it.
        try await mesh.waitFor("the refusal in the gateway's log", timeout: .seconds(5)) {
            self.log("gateway").contains("configuration refused, the running one keeps serving")
        }
        let weightsAfterRefusal = await mesh.weights()
        XCTAssertEqual(weightsAfterRefusal, ["c1": 50, "c2": 50], "the running routes keep serving")

        // SIGHUP reloads (the bad file again: refused again), and the gateway keeps serving.
        mesh.signal(["gateway"], SIGHUP)
        try await mesh.waitFor("the SIGHUP reload refused", timeout: .seconds(5)) {
            let metrics = (try? await mesh.get(mesh.adminURL + "/metrics").body) ?? ""
            return metrics.split(separator: "\n").contains {
                $0.hasPrefix("zone_agent_config_reloads_total{result=\"refused\"} ") && $0.split(separator: " ").last.flatMap { Double($0) } == 2
            }
        }
        XCTAssertTrue(mesh.isRunning("gateway"))

        // The next good edit applies.
        try mesh.write("ingress-demo.yaml", Self.ingress(c1: 20, c2: 80))
        try await mesh.waitFor("the table back at 20/80", timeout: .seconds(5)) { await mesh.weights() == ["c1": 20, "c2": 80] }

        // An Envoy output added to the gateway's own configuration: the newest table is written there at once.
        let gatewayConfig = try String(contentsOfFile: "\(mesh.dir)/gateway.yaml", encoding: .utf8)
        try mesh.write("gateway.yaml", gatewayConfig + "\noutputs: { envoy: { dir: \(mesh.dir)/envoy } }\n")
        let written = try await mesh.waitFor("the EDS files of the new output", timeout: .seconds(5)) {
            ((try? FileManager.default.contentsOfDirectory(atPath: "\(mesh.dir)/envoy")) ?? []).contains { $0.hasSuffix(".json") }
        }
        print("reload: an added Envoy output written \(written) after the edit")
        stopped.set()
        let results = await stream.value
        XCTAssertGreaterThan(results.count, 20)
        XCTAssertEqual(results.filter { !$0.ok }.count, 0, "failed requests: \(results.filter { !$0.ok }.prefix(5).map(\.outcome))")
    }

    /// Outlier detection turned on and off by editing the gateway's configuration, without a restart: on, a cluster
    /// whose backends answer 500 while their probes pass loses its share; off, the demotion ends at once.
    func testOutlierDetectionTurnsOnAndOffWithAReload() async throws {
        let configured = mesh.layout.clusters
        try await mesh.postBackends("c1", "/admin/fault")
        // Off: c1 keeps its share whatever it answers.
        var errors = 0
        for _ in 0..<40 where (try? await mesh.get(mesh.proxyURL, host: LocalMesh.host))?.status == 500 { errors += 1 }
        XCTAssertGreaterThan(errors, 0, "c1's backends answer 500")
        let weightsWhileOff = await mesh.weights()
        XCTAssertEqual(weightsWhileOff, configured)

        let original = try String(contentsOfFile: "\(mesh.dir)/gateway.yaml", encoding: .utf8)
        let detecting = original.replacingOccurrences(
            of: "slowStart: 1s }",
            with: "slowStart: 1s, outlierDetection: { consecutiveErrors: 3, baseEjection: 30s, clusterErrorRate: 50, window: 2s, minRequests: 5 } }")
        XCTAssertNotEqual(detecting, original, "the gateway's failover mapping is where the test expects it")
        let before = try await reloads("gateway")
        try mesh.write("gateway.yaml", detecting)
        try await mesh.waitFor("the reload applied", timeout: .seconds(5)) { (try? await self.reloads("gateway")) == before + 1 }
        let demoted = try await mesh.waitFor("c1's share moved away by outlier detection", timeout: .seconds(10)) {
            for _ in 0..<20 { _ = try? await mesh.get(mesh.proxyURL, host: LocalMesh.host) }
            return await mesh.weights()["c1"] == 0
        }
        print("reload: outlier detection turned on, c1 demoted \(demoted) after the reload")

        try mesh.write("gateway.yaml", original)
        try await mesh.waitFor("c1's share back once detection is off", timeout: .seconds(5)) { await mesh.weights() == configured }
        XCTAssertTrue(log("gateway").contains("outlier detection turned off"))
        XCTAssertFalse(log("gateway").contains("applies only at the next start"), "nothing asked for a restart")
        XCTAssertTrue(mesh.isRunning("gateway"))
    }

    func testSigningAndMeshKeysRotateWithoutARestartARoutingChangeOrAFailedRequest() async throws {
        let stopped = StopFlag()
        let stream = mesh.stream { stopped.isSet }
        let keys = mesh.dir + "/keys"
        let oldC1 = try KeyFiles.readPublicKey(path: keys + "/c1.pub")
        let c2 = try KeyFiles.readPublicKey(path: keys + "/c2.pub")
        let newC1 = try KeyFiles.writeClusterKey(cluster: "c1-next", directory: keys)

        // 1. The new public key trusted everywhere.
        try await everyone(reloads: {
            try self.mesh.write("keys/trust.yaml", TrustRoster(["c1": [oldC1, newC1.publicKey], "c2": [c2]]).yaml)
        })
        // 2. c1's agents sign with the new secret key (the Secret updated in place).
        let acceptedBefore = try await counter("gateway", "zone_agent_digests_accepted_total")
        try Self.writeSecret(keys + "/c1.key", contentsOf: keys + "/c1-next.key")
        try await mesh.waitFor("c1's agents signing with the new key", timeout: .seconds(5)) {
            await self.assertSteady()
            return self.mesh.agentNames("c1").allSatisfy { self.log($0).contains("signing with a new cluster key") }
        }
        try await mesh.waitFor("the gateway accepting digests since", timeout: .seconds(5)) {
            await self.assertSteady()
            return ((try? await self.counter("gateway", "zone_agent_digests_accepted_total")) ?? 0) >= acceptedBefore + 2
        }
        // 3. The old public key dropped.
        try await everyone(reloads: { try self.mesh.write("keys/trust.yaml", TrustRoster(["c1": [newC1.publicKey], "c2": [c2]]).yaml) })

        // 4. The mesh key: the new one added second, moved first, the old one dropped.
        let oldMesh = try KeyFiles.readMeshKeys(path: keys + "/mesh.key").primary
        let newMesh = MeshKey.generate()
        for ring in [[oldMesh, newMesh], [newMesh, oldMesh], [newMesh]] {
            try await everyone(reloads: { try Self.writeSecret(keys + "/mesh.key", ring.map(\.base64).joined(separator: "\n") + "\n") })
        }
        try await mesh.waitFor("the mesh still whole on the new key", timeout: .seconds(5)) {
            await self.assertSteady()
            let members = (try? await self.mesh.json(self.mesh.adminURL + "/v1/members"))?["members"] as? [[String: Any]] ?? []
            return members.filter { $0["state"] as? String == "alive" }.count == 5   // four agents and the gateway
        }
        stopped.set()
        let results = await stream.value
        XCTAssertGreaterThan(results.count, 20)
        XCTAssertEqual(results.filter { !$0.ok }.count, 0, "failed requests: \(results.filter { !$0.ok }.prefix(5).map(\.outcome))")
        let finalWeights = await mesh.weights()
        XCTAssertEqual(finalWeights, ["c1": 20, "c2": 80], "no routing change during the rotations")

        // 5. A roster that drops the key c1's agents still sign with: their digests are rejected and counted, and the
        // table says why c1 lost its weight. (c1's own agents refuse that roster: it does not trust their own key.)
        let rejectedBefore = try await counter("gateway", "zone_agent_records_rejected_total{reason=\"untrusted_key\"}")
        try mesh.write("keys/trust.yaml", TrustRoster(["c1": [oldC1], "c2": [c2]]).yaml)
        try await mesh.waitFor("c1 out of the table, and why", timeout: .seconds(10)) {
            guard let table = try? await self.mesh.json(self.mesh.adminURL + "/v1/table"),
                  let clusters = ((table["routes"] as? [[String: Any]])?.first?["clusters"]) as? [[String: Any]],
                  let c1 = clusters.first(where: { $0["cluster"] as? String == "c1" }) else { return false }
            return c1["effectiveWeight"] as? Int == 0 && (c1["reason"] as? String ?? "").contains("no longer trusts the key")
        }
        try await mesh.waitFor("the rejected digests counted", timeout: .seconds(10)) {
            ((try? await self.counter("gateway", "zone_agent_records_rejected_total{reason=\"untrusted_key\"}")) ?? 0) > rejectedBefore
        }
        // c1-a reloads on its own watch, not in step with the gateway: wait for its refusal rather than race it.
        try await mesh.waitFor("c1's agents refusing a roster without their own key", timeout: .seconds(5)) {
            self.log("c1-a").contains("is not trusted for cluster c1")
        }
    }

    // MARK: Helpers

    /// Runs `change`, then waits until every process (agents and gateway) has applied one more reload.
    private func everyone(reloads change: () throws -> Void) async throws {
        let names = mesh.clusters.flatMap { mesh.agentNames($0) } + ["gateway"]
        var before: [String: Int] = [:]
        for name in names { before[name] = try await reloads(name) }
        try change()
        try await mesh.waitFor("every process reloaded", timeout: .seconds(5)) {
            await self.assertSteady()
            for name in names where ((try? await self.reloads(name)) ?? 0) <= before[name]! { return false }
            return true
        }
    }

    /// The table must stay where it was all along: 20/80, both clusters active.
    private func assertSteady() async {
        let weights = await mesh.weights()
        XCTAssertEqual(weights, ["c1": 20, "c2": 80], "a key rotation moved traffic")
    }

    /// The admin address of `name` (an agent, or the gateway).
    private func admin(_ name: String) -> String {
        guard name != "gateway" else { return mesh.adminURL }
        let cluster = mesh.clusters.first { mesh.agentNames($0).contains(name) }!
        let index = mesh.agentNames(cluster).firstIndex(of: name)! + 1
        return "http://\(mesh.ip(mesh.group(of: cluster), index)):9101"
    }

    private func reloads(_ name: String) async throws -> Int {
        try await counter(name, "zone_agent_config_reloads_total{result=\"applied\"}")
    }

    /// A counter of `name`'s `/metrics` by its full series name; 0 before its first increment.
    private func counter(_ name: String, _ series: String) async throws -> Int {
        let metrics = try await mesh.get(admin(name) + "/metrics").body
        let line = metrics.split(separator: "\n").first { $0.hasPrefix(series + " ") }
        return line.flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }.map { Int($0) } ?? 0
    }

    private func log(_ name: String) -> String {
        (try? String(contentsOfFile: "\(mesh.dir)/\(name).log", encoding: .utf8)) ?? ""
    }

    /// Replaces a secret file as a Secret update does: a new file, mode 0600, renamed over the old.
    static func writeSecret(_ path: String, _ text: String) throws {
        let temporary = path + ".next"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown)
        }
        guard rename(temporary, path) == 0 else { throw CocoaError(.fileWriteUnknown) }
    }

    static func writeSecret(_ path: String, contentsOf source: String) throws {
        try writeSecret(path, String(contentsOfFile: source, encoding: .utf8))
    }

    /// The local mesh's Ingress with other weights.
    static func ingress(c1: Int, c2: Int) -> String { LocalMesh.ingress(weights: ["c1": c1, "c2": c2]) }
}
