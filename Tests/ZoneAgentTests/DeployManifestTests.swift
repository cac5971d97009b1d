import Foundation
import MeshCrypto
import XCTest

@testable import ZoneAgent

/// The configurations shipped in deploy/agents must load: a typo there would only show in a cluster.
final class DeployManifestTests: XCTestCase {
    let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    func testShippedAgentAndGatewayConfigurationsLoad() throws {
        let dir = NSTemporaryDirectory() + "deploy-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The roster as the README's step 1 writes it: keygen --trust, one cluster after the other.
        for cluster in ["c1", "c2"] {
            let pair = try KeyFiles.writeClusterKey(cluster: cluster, directory: dir)
            try TrustFile.add(pair.publicKey, cluster: cluster, path: dir + "/trust.yaml")
        }
        try KeyFiles.writeMeshKey(directory: dir)
        try "0123456789abcdef0123456789abcdef\n".write(toFile: dir + "/admin.token", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: dir + "/admin.token")

        func load(_ relative: String, role: Role, cluster: String = "c1") throws -> Config {
            let text = try String(contentsOfFile: repo + "/deploy/agents/" + relative, encoding: .utf8)
                .replacingOccurrences(of: "/etc/zone-agent/keys/cluster.key", with: "\(dir)/\(cluster).key")
                .replacingOccurrences(of: "/etc/zone-agent/keys/mesh.key", with: dir + "/mesh.key")
                .replacingOccurrences(of: "/etc/zone-agent/trust/trust.yaml", with: dir + "/trust.yaml")
                .replacingOccurrences(of: "/etc/zone-agent/gateway/", with: repo + "/deploy/agents/gateway/envoy/")
                .replacingOccurrences(of: "/var/run/zone-agent/envoy", with: dir + "/eds")
                .replacingOccurrences(of: "/etc/zone-agent/admin/token", with: dir + "/admin.token")
            let path = dir + "/" + relative.replacingOccurrences(of: "/", with: "_")
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return try Config.load(path: path, role: role, environment: ["NODE_NAME": "node-1", "POD_IP": "10.0.0.5"])
        }
        let agent = try load("overlays/c1/agent.yaml", role: .agent)
        XCTAssertEqual(agent.cluster, "c1")
        XCTAssertEqual(agent.zone, "zone-a")
        XCTAssertNotNil(agent.admin.token, "every shipped admin API listening beyond loopback has a token")
        XCTAssertEqual(agent.gossip.advertise, HostPort(host: "10.0.0.5", port: 7946))
        XCTAssertEqual(try load("overlays/c2/agent.yaml", role: .agent, cluster: "c2").cluster, "c2")
        XCTAssertNotNil(try load("gateway/envoy/gateway.yaml", role: .gateway).outputs.envoyDirectory)
        XCTAssertEqual(try load("gateway/builtin-proxy/gateway.yaml", role: .gateway).proxyListen?.port, 8001)
    }
}
