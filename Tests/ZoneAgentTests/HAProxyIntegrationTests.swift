import Foundation
import XCTest

@testable import ZoneAgent

/// The HAProxy output against a real HAProxy: the gateway fills a `server-template` backend through the Runtime
/// API socket, and requests through HAProxy show the split and the failover.
final class HAProxyIntegrationTests: XCTestCase {
    func testSplitAndFailoverThroughHAProxy() async throws {
        let haproxy = ["/usr/sbin/haproxy", "/usr/bin/haproxy"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let haproxy else { throw XCTSkip("haproxy is not installed (apt-get install -y haproxy; make test does)") }
        let binary = try BuiltBinary.path()

        let dir = NSTemporaryDirectory() + "haproxy-\(UUID().uuidString.prefix(8))"
        var layout = LocalMesh.Layout()
        layout.gatewayExtra = "outputs: { haproxy: { socket: \(dir)/admin.sock, backend: web-demo } }"
        let mesh = try LocalMesh(directory: dir, binary: binary, layout: layout)
        defer {
            mesh.stopAll()
            try? FileManager.default.removeItem(atPath: dir)
        }
        let frontend = "\(mesh.ip(98, 1)):8002"
        try mesh.write("haproxy.cfg", """
        global
          stats socket \(dir)/admin.sock level admin
          maxconn 512
        defaults
          mode http
          timeout connect 1s
          timeout client 10s
          timeout server 10s
          retries 1
          option redispatch
        frontend web
          bind \(frontend)
          default_backend web-demo
        backend web-demo
          balance roundrobin
          server-template zone 1-8 127.0.0.1:1 disabled

        """)
        try mesh.start("haproxy", executable: haproxy, ["-f", "\(dir)/haproxy.cfg", "-db"])
        try await mesh.waitFor("HAProxy's stats socket", timeout: .seconds(10)) { FileManager.default.fileExists(atPath: "\(dir)/admin.sock") }
        try mesh.writeConfiguration()
        for cluster in mesh.clusters { try mesh.startCluster(cluster) }
        try mesh.startGateway()
        try await mesh.waitFor("the table at 20/80", timeout: .seconds(30)) { await mesh.isSteady() }

        func throughHAProxy(_ n: Int) async throws -> [String: Int] {
            var counts: [String: Int] = [:]
            for _ in 0..<n {
                let answer = try await mesh.get("http://\(frontend)/svc1")
                counts[answer.status == 200 ? answer.body.trimmingCharacters(in: .whitespacesAndNewlines) : "HTTP \(answer.status)", default: 0] += 1
            }
            return counts
        }
        // HAProxy picks by its own smooth round robin over the weights zone-agent set (64, 64, 256, 256): exact
        // over its cycle of 640, so 640 requests split 128/512.
        try await mesh.waitFor("HAProxy serving both clusters", timeout: .seconds(10)) {
            (try? await throughHAProxy(10))?.keys.contains("web-demo-c1") ?? false
        }
        let split = try await throughHAProxy(640)
        XCTAssertEqual(split, ["web-demo-c1": 128, "web-demo-c2": 512])

        mesh.kill(mesh.agentNames("c2") + mesh.backendNames("c2"))
        try await mesh.waitFor("the table at 100/0", timeout: .seconds(15)) { await mesh.weights() == ["c1": 100, "c2": 0] }
        try await mesh.waitFor("HAProxy sending everything to c1", timeout: .seconds(5)) {
            (try? await throughHAProxy(20)) == ["web-demo-c1": 20]
        }
        let after = try await throughHAProxy(200)
        XCTAssertEqual(after, ["web-demo-c1": 200])
    }
}
