import AsyncHTTPClient
import Foundation
import NIOCore
import XCTest

@testable import ZoneAgent

/// `/readyz` and the admin token with real processes on loopback: an agent alone is not ready until another
/// member is alive; a gateway is not ready until its table can serve; the gateway's token guards all but the probes.
final class AdminProcessTests: XCTestCase {
    func testReadyzWaitsForJoinAndTableAndTheTokenGuardsTheRest() async throws {
        let binary = try BuiltBinary.path()
        let mesh = try LocalMesh(directory: NSTemporaryDirectory() + "admin-\(UUID().uuidString.prefix(8))", binary: binary)
        defer {
            mesh.stopAll()
            try? FileManager.default.removeItem(atPath: mesh.dir)
        }
        try mesh.writeConfiguration()
        let token = "5a0e7c1d9b3f42e8a6c0d4b2f1e3a5c7"
        try mesh.write("admin.token", token + "\n")
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: "\(mesh.dir)/admin.token")
        let gatewayYAML = try String(contentsOfFile: "\(mesh.dir)/gateway.yaml", encoding: .utf8)
        let listen = "admin: { listen: \"\(mesh.ip(99, 1)):9101\" }"
        XCTAssertTrue(gatewayYAML.contains(listen))
        try mesh.write("gateway.yaml", gatewayYAML.replacingOccurrences(
            of: listen, with: "admin: { listen: \"\(mesh.ip(99, 1)):9101\", token: admin.token }"))

        func get(_ url: String, token: String? = nil) async -> (status: UInt, body: String)? {
            var request = HTTPClientRequest(url: url)
            if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
            guard let response = try? await mesh.http.execute(request, timeout: .seconds(5)),
                  let body = try? await response.body.collect(upTo: 1 << 20) else { return nil }
            return (response.status.code, String(buffer: body))
        }

        // An agent alone: alive, not ready.
        let agentAdmin = "http://\(mesh.ip(1, 1)):9101"
        try mesh.start("c1-a", ["agent", "--config", "c1-a.yaml"])
        try await mesh.waitFor("c1-a's admin API", timeout: .seconds(15)) { await get(agentAdmin + "/healthz")?.status == 200 }
        let lonely = await get(agentAdmin + "/readyz")
        XCTAssertEqual(lonely?.status, 503)
        XCTAssertTrue(lonely?.body.contains("not joined") ?? false, lonely?.body ?? "no answer")

        // The gateway before any cluster: not ready, and only the probes open without the token.
        try mesh.startGateway()
        try await mesh.waitFor("the gateway's admin API", timeout: .seconds(15)) { await get(mesh.adminURL + "/healthz")?.status == 200 }
        let early = await get(mesh.adminURL + "/readyz")
        XCTAssertEqual(early?.status, 503)
        XCTAssertTrue(early?.body.hasPrefix("not ready: ") ?? false, early?.body ?? "no answer")
        let noToken = await get(mesh.adminURL + "/v1/table")
        let metrics = await get(mesh.adminURL + "/metrics")
        let wrong = await get(mesh.adminURL + "/v1/table", token: "wrong-wrong-wrong-wrong")
        let right = await get(mesh.adminURL + "/v1/table", token: token)
        XCTAssertEqual(noToken?.status, 401)
        XCTAssertEqual(metrics?.status, 401)
        XCTAssertEqual(wrong?.status, 401)
        XCTAssertEqual(right?.status, 200)

        // The rest of the mesh: the agent has company, the gateway a table that serves.
        try await mesh.waitFor("c1-a ready once the gateway is alive", timeout: .seconds(15)) { await get(agentAdmin + "/readyz")?.status == 200 }
        let g = mesh.group(of: "c1")
        for (i, name) in mesh.backendNames("c1").enumerated() {
            try mesh.start(name, ["backend", "--name", "web-demo-c1", "--listen", "\(mesh.ip(g, 11 + i)):8080"])
        }
        for name in mesh.agentNames("c1").dropFirst() { try mesh.start(name, ["agent", "--config", "\(name).yaml"]) }
        let ready = try await mesh.waitFor("the gateway ready", timeout: .seconds(30)) { await get(mesh.adminURL + "/readyz")?.status == 200 }
        print("readyz: the gateway became ready \(ready) after c1 started")
        let readyAnswer = await get(mesh.adminURL + "/readyz")
        XCTAssertEqual(readyAnswer?.body, "ready\n")
    }
}
