import Foundation
import NIOCore
import NIOPosix
import XCTest

/// The operator's path, end to end, with real processes on loopback: keygen, two clusters of three agents with two
/// backends each, a gateway on the seed's Ingress (20/80), then failover, failback and the faults that must not
/// move traffic.
final class MeshIntegrationTests: XCTestCase {
    var fleet: Fleet!
    var proxyURL = ""
    var adminURL = ""
    let host = "alb.ingress.alibaba.com"

    override func setUp() async throws {
        fleet = try Fleet()
        proxyURL = "http://\(fleet.ip(9, 1)):8001/svc1"
        adminURL = "http://\(fleet.ip(9, 1)):9101"
    }

    override func tearDown() async throws { fleet.stopAll() }

    func agentName(_ c: Int, _ i: Int) -> String { "c\(c)-\("abc".map(String.init)[i - 1])" }

    func startCluster(_ c: Int) throws {
        for b in 1...2 { try fleet.start("backend-c\(c)-\(b)", ["backend", "--name", "web-demo-c\(c)", "--listen", "\(fleet.ip(c, 10 + b)):8080"]) }
        for i in 1...3 { try fleet.start(agentName(c, i), ["agent", "--config", "\(agentName(c, i)).yaml"]) }
    }

    func writeConfigs() throws {
        XCTAssertEqual(try fleet.run(["keygen", "--cluster", "c1", "--out", "keys"]), 0)
        XCTAssertEqual(try fleet.run(["keygen", "--cluster", "c2", "--out", "keys"]), 0)
        XCTAssertEqual(try fleet.run(["keygen", "--mesh", "--out", "keys"]), 0)
        func pub(_ c: String) throws -> String {
            try String(contentsOfFile: "\(fleet.dir)/keys/\(c).pub", encoding: .utf8).split(separator: "\n")[0].description
        }
        try fleet.write("keys/trust.yaml", "clusters:\n  c1: [\(try pub("c1"))]\n  c2: [\(try pub("c2"))]\n")
        let seed = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("deploy/agents/gateway/envoy/ingress-demo.yaml").path
        try fleet.write("ingress-demo.yaml", try String(contentsOfFile: seed, encoding: .utf8))
        let join = "[\(fleet.ip(1, 1)):7946, \(fleet.ip(2, 1)):7946]"
        for c in 1...2 {
            for i in 1...3 {
                try fleet.write("\(agentName(c, i)).yaml", """
                node: \(agentName(c, i))
                cluster: c\(c)
                gossip: { bind: "\(fleet.ip(c, i)):7946", join: \(join) }
                keys: { signing: keys/c\(c).key, trust: keys/trust.yaml, mesh: keys/mesh.key }
                admin: { listen: "\(fleet.ip(c, i)):9101" }
                endpoints:
                  static:
                    - { service: gateway-demo/service1, address: "\(fleet.ip(c, 11)):8080" }
                    - { service: gateway-demo/service1, address: "\(fleet.ip(c, 12)):8080" }
                probe: { http: { path: /healthz }, interval: 500ms, timeout: 250ms, fall: 2, rise: 2 }
                """)
            }
        }
        try fleet.write("gateway.yaml", """
        node: gw-1
        gossip: { bind: "\(fleet.ip(9, 1)):7946", join: \(join) }
        keys: { trust: keys/trust.yaml, mesh: keys/mesh.key }
        admin: { listen: "\(fleet.ip(9, 1)):9101" }
        routes: { ingress: ingress-demo.yaml }
        failover: { holdDown: 2s, slowStart: 2s }
        proxy: { listen: "\(fleet.ip(9, 1)):8001" }
        """)
    }

    /// Effective weights of the route's clusters by name, and their states.
    func weights() async -> [String: Int] {
        guard let table = try? await fleet.json(adminURL + "/v1/table"),
              let route = (table["routes"] as? [[String: Any]])?.first,
              let clusters = route["clusters"] as? [[String: Any]] else { return [:] }
        var out: [String: Int] = [:]
        for c in clusters { out[c["cluster"] as? String ?? "?"] = c["effectiveWeight"] as? Int ?? -1 }
        return out
    }

    func healthy() async -> [String: String] {
        guard let table = try? await fleet.json(adminURL + "/v1/table"),
              let clusters = ((table["routes"] as? [[String: Any]])?.first?["clusters"]) as? [[String: Any]] else { return [:] }
        var out: [String: String] = [:]
        for c in clusters { out[c["cluster"] as? String ?? "?"] = "\(c["healthyEndpoints"] ?? 0)/\(c["totalEndpoints"] ?? 0) \(c["state"] ?? "")" }
        return out
    }

    func split(_ n: Int) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for _ in 0..<n {
            let answer = try await fleet.get(proxyURL, host: host)
            counts[answer.status == 200 ? answer.body.trimmingCharacters(in: .whitespacesAndNewlines) : "HTTP \(answer.status)", default: 0] += 1
        }
        return counts
    }

    /// Sends requests one after another until `stop` says so; returns (status or error, cluster) per request.
    func stream(until stop: @escaping @Sendable () -> Bool) -> Task<[(String, String?)], Never> {
        let fleet = self.fleet!, url = proxyURL, host = self.host
        return Task {
            var results: [(String, String?)] = []
            while !stop() && results.count < 20_000 {
                do {
                    let a = try await fleet.get(url, host: host)
                    results.append(("\(a.status)", a.cluster))
                } catch {
                    results.append(("error: \(error)", nil))
                }
            }
            return results
        }
    }

    func testSplitFailoverFailbackAndFaultsThatMustNotMoveTraffic() async throws {
        try writeConfigs()
        try startCluster(1)
        try startCluster(2)
        try fleet.start("gateway", ["gateway", "--config", "gateway.yaml"])
        try await fleet.waitFor("both clusters active at 20/80 with 2/2 healthy", timeout: .seconds(30)) {
            let h = await healthy()
            return await weights() == ["c1": 20, "c2": 80] && h["c1"] == "2/2 active" && h["c2"] == "2/2 active"
        }

        // 1. The seed's split, exactly.
        let first = try await split(500)
        XCTAssertEqual(first, ["web-demo-c1": 100, "web-demo-c2": 400])

        // 2. Kill every agent and backend of c2 while a request stream runs: no failed request.
        let stopped = ManagedFlag()
        let during = stream { stopped.isSet }
        try await Task.sleep(for: .milliseconds(500))
        let killedAt = ContinuousClock.now
        fleet.kill((1...3).map { agentName(2, $0) } + ["backend-c2-1", "backend-c2-2"])
        let failover = try await fleet.waitFor("table at 100/0", timeout: .seconds(15)) { await weights() == ["c1": 100, "c2": 0] }
        try await Task.sleep(for: .milliseconds(500))
        stopped.set()
        let results = await during.value
        let failed = results.filter { $0.0 != "200" }
        print("failover: table at 100/0 \(failover) after the kill (\(ContinuousClock.now - killedAt) to here); \(results.count) requests, \(failed.count) failed")
        XCTAssertEqual(failed.count, 0, "failed requests during failover: \(failed.prefix(5))")
        XCTAssertGreaterThan(results.count, 20)

        // 3. c2 comes back: after the 2 s hold-down and 2 s slow start the split is 20/80 again.
        try startCluster(2)
        let failback = try await fleet.waitFor("table back at 20/80", timeout: .seconds(30)) { await weights() == ["c1": 20, "c2": 80] }
        print("failback: 20/80 again \(failback) after restart")
        XCTAssertGreaterThan(failback, .seconds(2), "failback waits for the hold-down")
        try await fleet.waitFor("c2 endpoints healthy again", timeout: .seconds(10)) { await healthy()["c2"] == "2/2 active" }
        let after = try await split(500)
        XCTAssertEqual(after, ["web-demo-c1": 100, "web-demo-c2": 400])

        // 4. One agent of c1 killed: its endpoints move to the other agents and no traffic moves.
        let steady = ManagedFlag()
        let oneAgent = stream { steady.isSet }
        fleet.kill([agentName(1, 1)])
        try await fleet.waitFor("c1-a seen dead", timeout: .seconds(15)) {
            let members = (try? await fleet.json(adminURL + "/v1/members"))?["members"] as? [[String: Any]] ?? []
            return members.contains { $0["node"] as? String == "c1-a" && ["dead", "suspect"].contains($0["state"] as? String ?? "") }
        }
        for _ in 0..<20 {
            let w = await weights()
            XCTAssertEqual(w, ["c1": 20, "c2": 80], "killing one agent moved traffic")
            try await Task.sleep(for: .milliseconds(100))
        }
        steady.set()
        let oneAgentResults = await oneAgent.value
        XCTAssertEqual(oneAgentResults.filter { $0.0 != "200" }.count, 0)
        let table = try await fleet.json(adminURL + "/v1/table")
        let changes = (table["changes"] as? [[String: Any]] ?? []).filter { ($0["reason"] as? String ?? "").contains("c1-a") }
        XCTAssertEqual(changes.count, 0)
    }

    func testForgedClusterKeyAndGarbageDoNotDisturbTheMesh() async throws {
        try writeConfigs()
        try startCluster(1)
        try startCluster(2)
        try fleet.start("gateway", ["gateway", "--config", "gateway.yaml"])
        try await fleet.waitFor("both clusters active at 20/80", timeout: .seconds(30)) {
            let h = await healthy()
            return await weights() == ["c1": 20, "c2": 80] && h["c1"] == "2/2 active" && h["c2"] == "2/2 active"
        }

        // An agent that claims cluster c2 but signs with c1's key (its own roster says that is fine; the mesh's does not).
        let c1 = try String(contentsOfFile: "\(fleet.dir)/keys/c1.pub", encoding: .utf8).split(separator: "\n")[0]
        try fleet.write("keys/rogue-trust.yaml", "clusters:\n  c2: [\(c1)]\n")
        try fleet.start("backend-rogue", ["backend", "--name", "rogue", "--listen", "\(fleet.ip(2, 99)):8080"])
        try fleet.write("rogue.yaml", """
        node: c2-rogue
        cluster: c2
        gossip: { bind: "\(fleet.ip(2, 98)):7946", join: [\(fleet.ip(9, 1)):7946, \(fleet.ip(2, 1)):7946] }
        keys: { signing: keys/c1.key, trust: keys/rogue-trust.yaml, mesh: keys/mesh.key }
        endpoints:
          static:
            - { service: gateway-demo/service1, address: "\(fleet.ip(2, 99)):8080" }
        """)
        try fleet.start("rogue", ["agent", "--config", "rogue.yaml"])
        try await fleet.waitFor("the gateway rejecting the rogue's records", timeout: .seconds(15)) {
            let metrics = (try? await fleet.get(adminURL + "/metrics").body) ?? ""
            return metrics.contains("zone_agent_records_rejected_total{reason=\"untrusted_key\"}")
        }
        XCTAssertTrue(fleet.isRunning("rogue"))
        let hashBefore = try await fleet.json(adminURL + "/v1/table")["hash"] as? String

        // Garbage to the gateway's and an agent's gossip ports for ten seconds.
        let targets = [fleet.ip(9, 1), fleet.ip(1, 2)]
        let sent = try await Self.sendGarbage(to: targets, port: 7946, for: .seconds(10))
        let counts = try await split(500)
        XCTAssertEqual(counts, ["web-demo-c1": 100, "web-demo-c2": 400], "the rogue never gets traffic, the split holds")
        let hashAfter = try await fleet.json(adminURL + "/v1/table")["hash"] as? String
        XCTAssertEqual(hashAfter, hashBefore)
        let members = try await fleet.json(adminURL + "/v1/members")["members"] as? [[String: Any]] ?? []
        XCTAssertEqual(members.filter { $0["state"] as? String == "alive" }.count, 7, "\(members)")
        XCTAssertFalse(members.contains { $0["node"] as? String == "c2-rogue" }, "the rogue is never a member")
        print("garbage: \(sent) datagrams sent; table hash and membership unchanged")
    }

    /// Sends random datagrams (some with a valid header) at `targets` for `duration`, about 2,000 a second.
    static func sendGarbage(to targets: [String], port: Int, for duration: Duration) async throws -> Int {
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        defer { channel.close(promise: nil) }
        var rng = SystemRandomNumberGenerator()
        let addresses = try targets.map { try SocketAddress(ipAddress: $0, port: port) }
        let end = ContinuousClock.now + duration
        var sent = 0
        while ContinuousClock.now < end {
            for _ in 0..<20 {
                var bytes = (0..<Int.random(in: 0...1500, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                if sent % 3 == 0 && bytes.count > 4 { bytes[0] = 0x5A; bytes[1] = 0x41; bytes[2] = 1 }
                let envelope = AddressedEnvelope(remoteAddress: addresses[sent % addresses.count], data: ByteBuffer(bytes: bytes))
                channel.write(envelope, promise: nil)
                sent += 1
            }
            channel.flush()
            try await Task.sleep(for: .milliseconds(10))
        }
        return sent
    }
}

/// A flag set once from one task and read from another.
final class ManagedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
