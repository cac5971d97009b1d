import Foundation
import XCTest

@testable import KubernetesDiscovery

/// The seed's Step 3 as written, end to end: a real gateway with `routes: { kubernetes: { ingressClass: alb } }`
/// watching the stand-in API server, real agents of c1 and c2. `kubectl apply` of new weights moves the table
/// within a second; an Ingress whose weights do not sum to 100 is refused (log line, metric) while its previous
/// routes keep serving; a deleted Ingress takes its routes away; a 410 relists.
final class IngressProcessTests: XCTestCase {
    func testTheGatewayFollowsTheIngressesOfItsClass() async throws {
        let mesh = try await ZoneAgentProcesses.start(net: 120 + Int(getpid()) % 100)
        do { try await followIngresses(mesh) } catch {
            await mesh.stop()
            throw error
        }
        await mesh.stop()
    }

    private func followIngresses(_ mesh: ZoneAgentProcesses) async throws {
        let ip = mesh.ip
        for (cluster, host) in [("c1", 1), ("c2", 2)] {
            try mesh.write("\(cluster).yaml", mesh.agentYAML(cluster, host: host, join: [3 - host], endpoints: """
            { static: [{ service: gateway-demo/service1, address: "\(ip(10 + host)):8080" }, { service: gateway-demo/service2, address: "\(ip(10 + host)):8080" }] }
            """))
            try mesh.start("backend-\(cluster)", ["backend", "--name", "web-\(cluster)", "--listen", "\(ip(10 + host)):8080"])
            try mesh.start("\(cluster)-a", ["agent", "--config", "\(cluster).yaml"])
        }
        try mesh.write("gateway.yaml", """
        node: gateway
        gossip: { bind: "\(ip(3)):7946", join: ["\(ip(1)):7946", "\(ip(2)):7946"], profile: fast }
        keys: { trust: keys/trust.yaml }
        admin: { listen: "\(ip(3)):9101" }
        routes: { kubernetes: { ingressClass: alb, namespaces: [gateway-demo] } }
        failover: { holdDown: 1s, slowStart: 1s }
        """)
        let admin = "http://\(ip(3)):9101"
        mesh.server.upsertIngress(IngressFixture(namespace: "gateway-demo", name: "web"))
        mesh.server.upsertIngress(IngressFixture(namespace: "gateway-demo", name: "other-class", ingressClass: "nginx", path: "/nginx"))
        try mesh.start("gateway", ["gateway", "--config", "gateway.yaml"], environment: mesh.inCluster)
        let first = try await mesh.waitFor("the Ingress's 20/80", timeout: .seconds(30)) { await mesh.weights(admin: admin) == ["c1": 20, "c2": 80] }

        // kubectl apply with new weights.
        mesh.server.upsertIngress(IngressFixture(namespace: "gateway-demo", name: "web", weights: ["c1": "50", "c2": "50"]))
        let applied = try await mesh.waitFor("50/50", timeout: .seconds(5)) { await mesh.weights(admin: admin) == ["c1": 50, "c2": 50] }
        print("routes from the Kubernetes API: new Ingress weights in the table \(applied) after the change")
        XCTAssertLessThan(applied, .seconds(2), "within about a second (1 s aim, loaded test machine)")

        // Weights that do not sum to 100: refused with a log line and a metric, the previous routes keep serving.
        mesh.server.upsertIngress(IngressFixture(namespace: "gateway-demo", name: "web", weights: ["c1": "30", "c2": "80"]))
        let refusal = try await mesh.waitFor("the refusal logged and counted", timeout: .seconds(5)) {
            let metrics = String(decoding: (try? await mesh.get(admin + "/metrics")) ?? Data(), as: UTF8.self)
            return mesh.log("gateway").contains("Ingress refused, its previous routes keep serving")
                && metrics.contains("zone_agent_config_refused{") && metrics.contains("Ingress gateway-demo/web")
        }
        let kept = await mesh.weights(admin: admin)
        XCTAssertEqual(kept, ["c1": 50, "c2": 50])

        // A second Ingress adds its route; deleting the first takes its route away.
        mesh.server.upsertIngress(IngressFixture(namespace: "gateway-demo", name: "second", weights: ["c1": "10", "c2": "90"], path: "/svc2"))
        let second = try await mesh.waitFor("the second route", timeout: .seconds(5)) { await mesh.routePaths(admin: admin).sorted() == ["/svc1", "/svc2"] }
        mesh.server.deleteIngress(namespace: "gateway-demo", name: "web")
        let gone = try await mesh.waitFor("the first route gone", timeout: .seconds(5)) { await mesh.routePaths(admin: admin) == ["/svc2"] }

        // The server forgets the watch's resourceVersion: the gateway relists and picks up what changed meanwhile.
        mesh.server.compact()
        mesh.server.sendGoneEvent(FakeAPIServer.ingressKey("gateway-demo"))
        mesh.server.upsertIngress(IngressFixture(namespace: "gateway-demo", name: "second", weights: ["c1": "70", "c2": "30"], path: "/svc2"))
        let relisted = try await mesh.waitFor("70/30 after the relist", timeout: .seconds(10)) {
            await mesh.weights(admin: admin, path: "/svc2") == ["c1": 70, "c2": 30]
        }
        print("ingress process test: first table \(first), refusal \(refusal), second route \(second), deletion \(gone), relist \(relisted)")
    }
}
