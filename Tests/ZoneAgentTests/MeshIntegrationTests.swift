import Foundation
import NIOCore
import NIOPosix
import SeededRandom
import XCTest

@testable import ZoneAgent

/// The operator's path, end to end, with real processes on loopback: keygen, two clusters of three agents with two
/// backends each, a gateway on the seed's Ingress (20/80), then failover, failback and the faults that must not
/// move traffic.
final class MeshIntegrationTests: XCTestCase {
    var mesh: LocalMesh!

    override func setUp() async throws {
        var layout = LocalMesh.Layout()
        layout.holdDown = "2s"
        layout.slowStart = "2s"
        mesh = try await BuiltBinary.steadyMesh("mesh", layout: layout)
    }

    override func tearDown() async throws {
        mesh.stopAll()
        try? FileManager.default.removeItem(atPath: mesh.dir)
    }

    func testSplitFailoverFailbackAndOneAgentKilled() async throws {
        // 1. The seed's split, exactly.
        let first = try await mesh.split(500)
        XCTAssertEqual(first, ["web-demo-c1": 100, "web-demo-c2": 400])

        // 2. Kill every agent and backend of c2 while a request stream runs: no failed request.
        let stopped = StopFlag()
        let during = mesh.stream { stopped.isSet }
        try await waitForProxiedRequests(10, "the stream under way before the kill")
        mesh.kill(mesh.agentNames("c2") + mesh.backendNames("c2"))
        let failover = try await mesh.waitFor("table at 100/0", timeout: .seconds(15)) { await mesh.weights() == ["c1": 100, "c2": 0] }
        try await waitForProxiedRequests(10, "requests on the failed-over table")
        stopped.set()
        let results = await during.value
        let failed = results.filter { !$0.ok }
        print("failover: table at 100/0 \(failover) after the kill; \(results.count) requests, \(failed.count) failed")
        XCTAssertEqual(failed.count, 0, "failed requests during failover: \(failed.prefix(5).map(\.outcome))")
        XCTAssertGreaterThan(results.count, 20)

        // 3. c2 comes back: after the 2 s hold-down and 2 s slow start the split is 20/80 again.
        try mesh.startCluster("c2")
        let failback = try await mesh.waitFor("table back at 20/80", timeout: .seconds(30)) { await mesh.weights() == ["c1": 20, "c2": 80] }
        print("failback: 20/80 again \(failback) after restart")
        XCTAssertGreaterThan(failback, .seconds(2), "failback waits for the hold-down")
        try await mesh.waitFor("c2 endpoints healthy again", timeout: .seconds(10)) { await mesh.isSteady() }
        let after = try await mesh.split(500)
        XCTAssertEqual(after, ["web-demo-c1": 100, "web-demo-c2": 400])

        // 4. One agent of c1 killed: its endpoints move to the other agents and no traffic moves.
        let steady = StopFlag()
        let oneAgent = mesh.stream { steady.isSet }
        mesh.kill(["c1-a"])
        // Sampled at every poll from the kill until the gateway declares c1-a dead, by which time its endpoints have
        // moved to the other agents of c1: the whole window in which traffic could have moved.
        var samples = 0
        try await mesh.waitFor("c1-a seen dead", timeout: .seconds(20)) {
            let w = await mesh.weights()
            XCTAssertEqual(w, ["c1": 20, "c2": 80], "killing one agent moved traffic")
            samples += 1
            return await self.gatewaySees("c1-a", as: "dead")
        }
        let settled = await mesh.weights()
        XCTAssertEqual(settled, ["c1": 20, "c2": 80], "killing one agent moved traffic")
        XCTAssertGreaterThan(samples, 1)
        steady.set()
        let oneAgentResults = await oneAgent.value
        XCTAssertEqual(oneAgentResults.filter { !$0.ok }.count, 0)
    }

    func testForgedClusterKeyAndGarbageDoNotDisturbTheMesh() async throws {
        // An agent that claims cluster c2 but signs with c1's key (its own roster says that is fine; the mesh's does not).
        let c1 = try String(contentsOfFile: "\(mesh.dir)/keys/c1.pub", encoding: .utf8).split(separator: "\n")[0]
        try mesh.write("keys/rogue-trust.yaml", "clusters:\n  c2: [\(c1)]\n")
        try mesh.start("backend-rogue", ["backend", "--name", "rogue", "--listen", "\(mesh.ip(2, 99)):8080"])
        try mesh.write("rogue.yaml", """
        node: c2-rogue
        cluster: c2
        gossip: { bind: "\(mesh.ip(2, 98)):7946", join: [\(mesh.ip(99, 1)):7946, \(mesh.ip(2, 1)):7946] }
        keys: { signing: keys/c1.key, trust: keys/rogue-trust.yaml, mesh: keys/mesh.key }
        endpoints:
          static:
            - { service: gateway-demo/service1, address: "\(mesh.ip(2, 99)):8080" }
        """)
        try mesh.start("rogue", ["agent", "--config", "rogue.yaml"])
        try await mesh.waitFor("the gateway rejecting the rogue's records", timeout: .seconds(15)) {
            let metrics = (try? await mesh.get(mesh.adminURL + "/metrics").body) ?? ""
            return metrics.contains("zone_agent_records_rejected_total{reason=\"untrusted_key\"}")
        }
        XCTAssertTrue(mesh.isRunning("rogue"))
        let hashBefore = try await mesh.json(mesh.adminURL + "/v1/table")["hash"] as? String

        // Garbage to the gateway's and an agent's gossip ports for ten seconds.
        let sent = try await Self.sendGarbage(to: [mesh.ip(99, 1), mesh.ip(1, 2)], port: 7946, for: .seconds(10))
        let counts = try await mesh.split(500)
        XCTAssertEqual(counts, ["web-demo-c1": 100, "web-demo-c2": 400], "the rogue never gets traffic, the split holds")
        let hashAfter = try await mesh.json(mesh.adminURL + "/v1/table")["hash"] as? String
        XCTAssertEqual(hashAfter, hashBefore)
        let members = try await mesh.json(mesh.adminURL + "/v1/members")["members"] as? [[String: Any]] ?? []
        XCTAssertEqual(members.filter { $0["state"] as? String == "alive" }.count, 7, "\(members)")
        XCTAssertFalse(members.contains { $0["node"] as? String == "c2-rogue" }, "the rogue is never a member")
        // The metrics an operator watches are there from the start, not only after a first scrape.
        let metrics = try await mesh.get(mesh.adminURL + "/metrics").body
        for name in ["zone_agent_members{state=\"alive\"} 7", "zone_agent_digests_accepted_total", "zone_agent_effective_weight",
                     "zone_agent_table_version", "zone_agent_proxy_requests_total{cluster=\"c2\",status=\"200\"}",
                     "zone_agent_packets_dropped_total", "zone_agent_gossip_bytes_total"] {
            XCTAssertTrue(metrics.contains(name), "/metrics lacks \(name)")
        }
        print("garbage: \(sent) datagrams sent; table hash and membership unchanged")
    }

    func testSIGTERMLeavesTheMeshAndExitsZeroWithinFiveSeconds() async throws {
        // The table is steady once two agents per cluster vouch; c2-c may not have joined yet, and a member that
        // knows no one has no one to tell that it leaves.
        try await mesh.waitFor("c2-c seen alive", timeout: .seconds(10)) { await self.gatewaySees("c2-c", as: "alive") }
        let started = ContinuousClock.now
        mesh.kill(["c2-c"], signal: SIGTERM)
        let stopped = ContinuousClock.now - started
        XCTAssertLessThan(stopped, .seconds(5))
        XCTAssertEqual(mesh.exitStatus("c2-c"), 0)
        try await mesh.waitFor("c2-c seen as left", timeout: .seconds(5)) { await self.gatewaySees("c2-c", as: "left") }
        let log = try String(contentsOfFile: "\(mesh.dir)/c2-c.log", encoding: .utf8)
        XCTAssertTrue(log.contains("stopped agent c2-c"), log)
    }

    /// An operator's reflex, SIGHUP to reload, must not end the gateway (SIGHUP's default action) and with it every
    /// request: it is logged, and the gateway keeps serving the same table.
    func testSIGHUPDoesNotStopTheGateway() async throws {
        let before = try await mesh.json(mesh.adminURL + "/v1/table")["hash"] as? String
        mesh.signal(["gateway"], SIGHUP)
        try await mesh.waitFor("the gateway to log the hangup", timeout: .seconds(5)) {
            ((try? String(contentsOfFile: "\(self.mesh.dir)/gateway.log", encoding: .utf8)) ?? "").contains("SIGHUP received")
        }
        XCTAssertTrue(mesh.isRunning("gateway"))
        let answer = try await mesh.get(mesh.proxyURL, host: LocalMesh.host)
        XCTAssertEqual(answer.status, 200)
        let after = try await mesh.json(mesh.adminURL + "/v1/table")["hash"] as? String
        XCTAssertEqual(after, before)
    }

    /// Waits until the gateway's proxy has answered `count` more requests than now (its request counter).
    private func waitForProxiedRequests(_ count: Int, _ what: String) async throws {
        let start = await proxiedRequests()
        try await mesh.waitFor(what, timeout: .seconds(10)) { await self.proxiedRequests() >= start + count }
    }

    /// The gateway's `zone_agent_proxy_requests_total`, summed over clusters and statuses.
    private func proxiedRequests() async -> Int {
        let metrics = (try? await mesh.get(mesh.adminURL + "/metrics").body) ?? ""
        return metrics.split(separator: "\n").filter { $0.hasPrefix("zone_agent_proxy_requests_total{") }
            .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0) { $0 + Int($1) }
    }

    /// Whether the gateway's membership holds `node` in `state`.
    private func gatewaySees(_ node: String, as state: String) async -> Bool {
        let members = (try? await mesh.json(mesh.adminURL + "/v1/members"))?["members"] as? [[String: Any]] ?? []
        return members.contains { $0["node"] as? String == node && $0["state"] as? String == state }
    }

    /// Sends random datagrams (a third with a valid header) at `targets` for `duration`, about 2,000 a second.
    static func sendGarbage(to targets: [String], port: Int, for duration: Duration) async throws -> Int {
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        defer { channel.close(promise: nil) }
        var rng = SplitMix64(seed: 0x5A_4147)   // seeded: a failure replays with the same datagrams
        let addresses = try targets.map { try SocketAddress(ipAddress: $0, port: port) }
        let end = ContinuousClock.now + duration
        var sent = 0
        while ContinuousClock.now < end {
            for _ in 0..<20 {
                var bytes = (0..<Int.random(in: 0...1500, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                if sent % 3 == 0 && bytes.count > 4 { bytes[0] = 0x5A; bytes[1] = 0x41; bytes[2] = 1 }
                channel.write(AddressedEnvelope(remoteAddress: addresses[sent % addresses.count], data: ByteBuffer(bytes: bytes)), promise: nil)
                sent += 1
            }
            channel.flush()
            try await Task.sleep(for: .milliseconds(10))
        }
        return sent
    }
}
