import Foundation
import XCTest
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

@testable import KubernetesDiscovery

/// The seed's scale-to-zero through EndpointSlices, end to end: a real agent discovering its endpoints from the
/// stand-in API server, a real agent with a static endpoint in the other cluster, and a real gateway. When the
/// slice marks the pods not ready, not serving and terminating, the table moves at once, without waiting for the
/// probes to fail (the backend keeps answering them); when the pods are ready again, the cluster comes back.
final class ScaleToZeroProcessTests: XCTestCase {
    private var processes: [Process] = []
    private var directory = ""

    override func tearDown() async throws {
        for process in processes where process.isRunning { process.terminate() }
        for process in processes { process.waitUntilExit() }
        if !directory.isEmpty { try? FileManager.default.removeItem(atPath: directory) }
    }

    func testSlicesMarkedTerminatingMoveTheTableWithinASecondAndReadyOnesBringItBack() async throws {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("zone-agent").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw XCTSkip("zone-agent is not built next to the tests (\(binary)); run `swift build` first")
        }
        let certificate = try TestCertificate.make()
        defer { certificate.remove() }
        let server = try await FakeAPIServer.start(certificate: certificate, acceptedTokens: ["agent-token"])
        defer { Task { await server.stop() } }
        directory = NSTemporaryDirectory() + "scale-to-zero-\(UUID().uuidString.prefix(8))"
        let account = directory + "/serviceaccount"
        try FileManager.default.createDirectory(atPath: account, withIntermediateDirectories: true)
        try "agent-token\n".write(toFile: account + "/token", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: certificate.certificatePath, toPath: account + "/ca.crt")

        // A loopback network of its own, so that parallel runs never share ports.
        let net = 20 + Int(getpid()) % 200
        func ip(_ host: Int) -> String { "127.\(net).7.\(host)" }
        try run(binary, ["keygen", "--cluster", "c1", "--out", directory + "/keys"])
        try run(binary, ["keygen", "--cluster", "c2", "--out", directory + "/keys"])
        func publicKey(_ cluster: String) throws -> String {
            try String(contentsOfFile: "\(directory)/keys/\(cluster).pub", encoding: .utf8).split(separator: "\n")[0].description
        }
        try "clusters:\n  c1: [\(publicKey("c1"))]\n  c2: [\(publicKey("c2"))]\n"
            .write(toFile: directory + "/keys/trust.yaml", atomically: true, encoding: .utf8)
        let probe = "probe: { http: { path: /healthz }, interval: 500ms, timeout: 250ms, fall: 2, rise: 2 }"
        try write("c1.yaml", """
        node: c1-a
        cluster: c1
        gossip: { bind: "\(ip(1)):7946", join: ["\(ip(2)):7946"], profile: fast }
        keys: { signing: keys/c1.key, trust: keys/trust.yaml }
        endpoints: { kubernetes: { services: [gateway-demo/service1] } }
        \(probe)
        """)
        try write("c2.yaml", """
        node: c2-a
        cluster: c2
        gossip: { bind: "\(ip(2)):7946", join: ["\(ip(1)):7946"], profile: fast }
        keys: { signing: keys/c2.key, trust: keys/trust.yaml }
        endpoints: { static: [{ service: gateway-demo/service1, address: "\(ip(12)):8080" }] }
        \(probe)
        """)
        try write("gateway.yaml", """
        node: gateway
        gossip: { bind: "\(ip(3)):7946", join: ["\(ip(1)):7946", "\(ip(2)):7946"], profile: fast }
        keys: { trust: keys/trust.yaml }
        admin: { listen: "\(ip(3)):9101" }
        routes:
          - { host: demo.example, path: /, service: gateway-demo/service1, weights: { c1: 20, c2: 80 } }
        failover: { holdDown: 1s, slowStart: 1s }
        """)
        try start(binary, ["backend", "--name", "web-c1", "--listen", "\(ip(11)):8080"], log: "backend-c1")
        try start(binary, ["backend", "--name", "web-c2", "--listen", "\(ip(12)):8080"], log: "backend-c2")
        let port = String(server.baseURL.split(separator: ":").last ?? "")
        try start(binary, ["agent", "--config", "c1.yaml"], log: "c1-a", environment: [
            "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": port, "ZONE_AGENT_SERVICE_ACCOUNT_DIR": account,
        ])
        try start(binary, ["agent", "--config", "c2.yaml"], log: "c2-a")
        try start(binary, ["gateway", "--config", "gateway.yaml"], log: "gateway")

        func pod(ready: Bool, terminating: Bool) -> SliceFixture {
            SliceFixture(name: "service1-abc", endpoints: [
                EndpointFixture(addresses: [ip(11)], ready: ready, serving: ready, terminating: terminating),
            ])
        }
        server.upsert("gateway-demo/service1", pod(ready: true, terminating: false))
        let admin = "http://\(ip(3)):9101/v1/table"
        try await waitFor("c1 and c2 at 20/80", timeout: .seconds(30)) { try await self.weights(admin) == ["c1": 20, "c2": 80] }

        // `kubectl scale --replicas=0`: the pod is marked not ready, not serving and terminating (its backend still
        // answers the probes), then the slice is emptied.
        let scaled = ContinuousClock.now
        server.upsert("gateway-demo/service1", pod(ready: false, terminating: true))
        try await waitFor("c1 out of the table", timeout: .seconds(10)) { try await self.weights(admin) == ["c1": 0, "c2": 100] }
        let moved = ContinuousClock.now - scaled
        print("scale-to-zero through EndpointSlices: the table moved \(moved) after the slice changed")
        XCTAssertLessThan(moved, .seconds(2), "the table moves within about a second (1 s aim, loaded test machine)")
        server.upsert("gateway-demo/service1", SliceFixture(name: "service1-abc", endpoints: []))

        // Scaled back up: the pod ready again, probed healthy, and c1 back after the hold-down and slow start.
        server.upsert("gateway-demo/service1", pod(ready: true, terminating: false))
        try await waitFor("c1 back at 20/80", timeout: .seconds(15)) { try await self.weights(admin) == ["c1": 20, "c2": 80] }
    }

    // MARK: Helpers

    private func write(_ name: String, _ text: String) throws {
        try text.write(toFile: "\(directory)/\(name)", atomically: true, encoding: .utf8)
    }

    private func run(_ binary: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "\(arguments)")
    }

    private func start(_ binary: String, _ arguments: [String], log: String, environment: [String: String] = [:]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let path = "\(directory)/\(log).log"
        FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        processes.append(process)
    }

    /// The effective weight of each cluster on the gateway's first route; empty while it does not answer.
    private func weights(_ url: String) async throws -> [String: Int] {
        guard let data = try? await fetch(url),
              let table = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let clusters = ((table["routes"] as? [[String: Any]])?.first?["clusters"]) as? [[String: Any]] else { return [:] }
        var out: [String: Int] = [:]
        for cluster in clusters {
            if let name = cluster["cluster"] as? String, let weight = cluster["effectiveWeight"] as? Int { out[name] = weight }
        }
        return out
    }

    private func fetch(_ url: String) async throws -> Data {
        var request = URLRequest(url: URL(string: url)!)
        request.timeoutInterval = 2
        return try await withCheckedThrowingContinuation { continuation in
            URLSession.shared.dataTask(with: request) { data, _, error in
                if let data { continuation.resume(returning: data) } else { continuation.resume(throwing: error ?? URLError(.badServerResponse)) }
            }.resume()
        }
    }

    private func waitFor(_ what: String, timeout: Duration, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        let logs = ["c1-a", "c2-a", "gateway"].map { name in
            "--- \(name)\n" + ((try? String(contentsOfFile: "\(directory)/\(name).log", encoding: .utf8)) ?? "").suffix(1500)
        }.joined(separator: "\n")
        XCTFail("timed out after \(timeout) waiting for \(what)\n\(logs)")
        throw CancellationError()
    }
}
