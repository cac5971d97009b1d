import Foundation
import XCTest

@testable import KubernetesDiscovery

/// The seed's scale-to-zero through EndpointSlices, end to end: a real agent discovering its endpoints from the
/// stand-in API server, a real agent with a static endpoint in the other cluster, and a real gateway. When the
/// slice marks the pods not ready, not serving and terminating, the table moves at once, without waiting for the
/// probes to fail (the backend keeps answering them); when the pods are ready again, the cluster comes back.
final class ScaleToZeroProcessTests: XCTestCase {
    func testSlicesMarkedTerminatingMoveTheTableWithinASecondAndReadyOnesBringItBack() async throws {
        let mesh = try await ZoneAgentProcesses.start(net: 20 + Int(getpid()) % 100)
        do { try await scaleToZero(mesh) } catch {
            await mesh.stop()
            throw error
        }
        await mesh.stop()
    }

    private func scaleToZero(_ mesh: ZoneAgentProcesses) async throws {
        let ip = mesh.ip
        try mesh.write("c1.yaml", mesh.agentYAML("c1", host: 1, join: [2], endpoints: "{ kubernetes: { services: [gateway-demo/service1] } }"))
        try mesh.write("c2.yaml", mesh.agentYAML("c2", host: 2, join: [1],
                                                  endpoints: "{ static: [{ service: gateway-demo/service1, address: \"\(ip(12)):8080\" }] }"))
        try mesh.write("gateway.yaml", """
        node: gateway
        gossip: { bind: "\(ip(3)):7946", join: ["\(ip(1)):7946", "\(ip(2)):7946"], profile: fast }
        keys: { trust: keys/trust.yaml }
        admin: { listen: "\(ip(3)):9101" }
        routes:
          - { host: demo.example, path: /svc1, service: gateway-demo/service1, weights: { c1: 20, c2: 80 } }
        failover: { holdDown: 1s, slowStart: 1s }
        """)
        try mesh.start("backend-c1", ["backend", "--name", "web-c1", "--listen", "\(ip(11)):8080"])
        try mesh.start("backend-c2", ["backend", "--name", "web-c2", "--listen", "\(ip(12)):8080"])
        try mesh.start("c1-a", ["agent", "--config", "c1.yaml"], environment: mesh.inCluster)
        try mesh.start("c2-a", ["agent", "--config", "c2.yaml"])
        try mesh.start("gateway", ["gateway", "--config", "gateway.yaml"])

        func pod(ready: Bool, terminating: Bool) -> SliceFixture {
            SliceFixture(name: "service1-abc", endpoints: [
                EndpointFixture(addresses: [ip(11)], ready: ready, serving: ready, terminating: terminating),
            ])
        }
        let service = "gateway-demo/service1"
        let admin = "http://\(ip(3)):9101"
        mesh.server.upsert(service, pod(ready: true, terminating: false))
        try await mesh.waitFor("c1 and c2 at 20/80", timeout: .seconds(30)) { await mesh.weights(admin: admin) == ["c1": 20, "c2": 80] }

        // `kubectl scale --replicas=0`: the pod is marked not ready, not serving and terminating (its backend still
        // answers the probes), then the slice is emptied.
        mesh.server.upsert(service, pod(ready: false, terminating: true))
        let moved = try await mesh.waitFor("c1 out of the table", timeout: .seconds(10)) {
            await mesh.weights(admin: admin) == ["c1": 0, "c2": 100]
        }
        print("scale-to-zero through EndpointSlices: the table moved \(moved) after the slice changed")
        XCTAssertLessThan(moved, .seconds(2), "the table moves within about a second (1 s aim, loaded test machine)")
        mesh.server.upsert(service, SliceFixture(name: "service1-abc", endpoints: []))

        // Scaled back up: the pod ready again, probed healthy, and c1 back after the hold-down and slow start.
        mesh.server.upsert(service, pod(ready: true, terminating: false))
        try await mesh.waitFor("c1 back at 20/80", timeout: .seconds(15)) { await mesh.weights(admin: admin) == ["c1": 20, "c2": 80] }
    }
}
