import Foundation
import MeshCrypto
import XCTest

@testable import ZoneAgent

/// Drains with the real binary on loopback: two gateways, `zone-agent drain` through one admin API, both tables
/// move and agree; a gateway SIGKILLed and restarted learns the drain back from the mesh; `undrain` gives the share
/// back; an order signed by a key the roster does not list is refused.
final class DrainProcessTests: XCTestCase {
    /// Runs `zone-agent ARGS` in the mesh's folder to its end (at most 20 s); its status and what it printed.
    func run(_ mesh: LocalMesh, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: mesh.binary)
        p.arguments = arguments
        p.currentDirectoryURL = URL(fileURLWithPath: mesh.dir)
        let file = mesh.dir + "/cli-\(UUID().uuidString.prefix(6)).out"
        _ = FileManager.default.createFile(atPath: file, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        p.standardOutput = handle
        p.standardError = handle
        let done = DispatchSemaphore(value: 0)
        p.terminationHandler = { _ in done.signal() }
        try p.run()
        if done.wait(timeout: .now() + 20) == .timedOut {
            p.interrupt()
            _ = done.wait(timeout: .now() + 5)
            XCTFail("zone-agent \(arguments.joined(separator: " ")) did not finish within 20 s")
        }
        try handle.close()
        return (p.terminationStatus, (try? String(contentsOfFile: file, encoding: .utf8)) ?? "")
    }

    /// c2's state and weight and the table hash as the gateway at `admin` reports them.
    func view(_ mesh: LocalMesh, _ admin: String) async -> (state: String, weight: Int, hash: String)? {
        guard let table = try? await mesh.json(admin + "/v1/table"),
              let clusters = ((table["routes"] as? [[String: Any]])?.first?["clusters"]) as? [[String: Any]],
              let c2 = clusters.first(where: { $0["cluster"] as? String == "c2" }) else { return nil }
        return (c2["state"] as? String ?? "", c2["effectiveWeight"] as? Int ?? -1, table["hash"] as? String ?? "")
    }

    func testDrainMovesBothGatewaysSurvivesARestartAndUndrainGivesItBack() async throws {
        var layout = LocalMesh.Layout()
        layout.agentsPerCluster = 2
        layout.holdDown = "1s"
        layout.slowStart = "1s"
        let mesh = try await BuiltBinary.steadyMesh("drain", layout: layout)
        defer { mesh.stopAll() }
        // A second gateway, configured as the first at its own address.
        let first = try String(contentsOfFile: mesh.dir + "/gateway.yaml", encoding: .utf8)
        try mesh.write("gateway-b.yaml", first.replacingOccurrences(of: "node: gateway", with: "node: gateway-b")
            .replacingOccurrences(of: mesh.ip(99, 1), with: mesh.ip(99, 2)))
        try mesh.start("gateway-b", ["gateway", "--config", "gateway-b.yaml"])
        let a = mesh.adminURL, b = "http://\(mesh.ip(99, 2)):9101"
        try await mesh.waitFor("gateway-b steady", timeout: .seconds(30)) { await self.view(mesh, b)?.state == "active" }

        // Not an operator: a key of its own, and the cluster key of c1, are both refused with a reason.
        try KeyFiles.writeOperatorKey(directory: mesh.dir + "/stranger", force: true)
        for key in ["stranger/operator.key", "keys/c1.key"] {
            let refused = try run(mesh, ["drain", "--admin", a, "--operator-key", key, "--cluster", "c2", "--for", "1m"])
            XCTAssertEqual(refused.status, 1, refused.output)
            XCTAssertTrue(refused.output.contains("403") && refused.output.contains("not an operator key"), refused.output)
        }
        let typo = try run(mesh, ["drain", "--admin", a, "--operator-key", "keys/operator.key", "--cluster", "c3", "--for", "1m"])
        XCTAssertEqual(typo.status, 1, typo.output)
        XCTAssertTrue(typo.output.contains("400") && typo.output.contains("not in the trust roster"), typo.output)
        // A route the gateway does not have is a typo too; its undrain is let through (a route since removed).
        let route = try run(mesh, ["drain", "--admin", a, "--operator-key", "keys/operator.key", "--cluster", "c2", "--for", "1m",
                                   "--route", "shop.example.com/"])
        XCTAssertEqual(route.status, 1, route.output)
        XCTAssertTrue(route.output.contains("400") && route.output.contains("not a route of this gateway")
                      && route.output.contains("\(LocalMesh.host)/svc1"), route.output)
        let stillActive = await view(mesh, a)
        XCTAssertEqual(stillActive?.state, "active")

        let drained = try run(mesh, ["drain", "--admin", a, "--operator-key", "keys/operator.key", "--cluster", "c2", "--for", "10m"])
        XCTAssertEqual(drained.status, 0, drained.output)
        XCTAssertTrue(drained.output.contains("accepted"), drained.output)
        let moved = try await mesh.waitFor("both gateways drain c2 and agree", timeout: .seconds(10)) {
            guard let va = await self.view(mesh, a), let vb = await self.view(mesh, b) else { return false }
            return va.state == "drained" && va.weight == 0 && vb.state == "drained" && vb.weight == 0 && va.hash == vb.hash
        }
        print("drain: both gateways moved c2's share and agree on the hash after \(moved)")
        let split = try await mesh.split(20)
        XCTAssertEqual(split.keys.filter { $0.contains("c2") }, [], "no request reaches c2: \(split)")
        let listed = try await mesh.get(b + "/v1/drains")
        XCTAssertTrue(listed.body.contains("\"state\":\"drained\""), listed.body)
        let metrics = try await mesh.get(b + "/metrics")
        XCTAssertTrue(metrics.body.contains(#"zone_agent_drains{cluster="c2",route="*"} 1"#), metrics.body)
        let page = try await mesh.get(b + "/")
        XCTAssertTrue(page.body.contains("c2 drained by operator"), "the status page says who drained c2")

        // SIGKILL and restart gateway-b: it learns the order back from the mesh by state sync, and its proxy listens
        // only once its table holds it, so not even its first request reaches c2.
        mesh.kill(["gateway-b"])
        try mesh.start("gateway-b", ["gateway", "--config", "gateway-b.yaml"])
        let proxyB = mesh.proxyURL.replacingOccurrences(of: mesh.ip(99, 1), with: mesh.ip(99, 2))
        var firstAnswers: [String] = []
        let deadline = ContinuousClock.now + .seconds(15)
        while firstAnswers.count < 10, ContinuousClock.now < deadline {
            guard let answer = try? await mesh.get(proxyB, host: LocalMesh.host) else {
                try await Task.sleep(for: .milliseconds(5))
                continue
            }
            firstAnswers.append(answer.status == 200 ? answer.cluster ?? "?" : "HTTP \(answer.status)")
        }
        XCTAssertEqual(firstAnswers, Array(repeating: "c1", count: 10), "the restarted gateway's first answers")
        let relearned = try await mesh.waitFor("the restarted gateway drains c2 again", timeout: .seconds(15)) {
            await self.view(mesh, b)?.state == "drained"
        }
        print("drain: a restarted gateway applied the drain again after \(relearned)")

        // Undrain through the other gateway: the share comes back (hold-down 1 s, slow start 1 s) on both.
        let undrained = try run(mesh, ["undrain", "--admin", b, "--operator-key", "keys/operator.key", "--cluster", "c2"])
        XCTAssertEqual(undrained.status, 0, undrained.output)
        let back = try await mesh.waitFor("c2 back at 80 on both gateways, same hash", timeout: .seconds(15)) {
            guard let va = await self.view(mesh, a), let vb = await self.view(mesh, b) else { return false }
            return va.state == "active" && va.weight == 80 && vb.state == "active" && vb.weight == 80 && va.hash == vb.hash
        }
        print("undrain: c2 back at its share on both gateways after \(back)")
        // The old drain order, sent again, cannot come back: the undrain outranks it.
        let metricsAfter = try await mesh.get(a + "/metrics")
        XCTAssertTrue(metricsAfter.body.contains(#"zone_agent_drains{cluster="c2",route="*"} 0"#), metricsAfter.body)
    }
}
