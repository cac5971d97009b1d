import Foundation
import XCTest
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Real `zone-agent` processes beside the stand-in API server: a directory with keys for clusters c1 and c2, a
/// service account whose token and CA the API server accepts, and the processes started in it, all removed at the end.
final class ZoneAgentProcesses: @unchecked Sendable {
    let binary: String
    let directory: String
    let server: FakeAPIServer
    /// A loopback network of its own (127.N.7.x), so that parallel runs never share addresses.
    let net: Int
    private let certificate: TestCertificate
    private var processes: [Process] = []
    private let lock = NSLock()

    /// Nil (the test skips) when zone-agent is not built next to the tests.
    static func start(net subnet: Int) async throws -> ZoneAgentProcesses {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("zone-agent").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw XCTSkip("zone-agent is not built next to the tests (\(binary)); run `swift build` first")
        }
        let certificate = try TestCertificate.make()
        let server = try await FakeAPIServer.start(certificate: certificate, acceptedTokens: ["agent-token"])
        let processes = ZoneAgentProcesses(binary: binary, certificate: certificate, server: server, subnet: subnet)
        try processes.prepare()
        return processes
    }

    private init(binary: String, certificate: TestCertificate, server: FakeAPIServer, subnet: Int) {
        self.binary = binary
        self.certificate = certificate
        self.server = server
        self.directory = NSTemporaryDirectory() + "zone-agent-k8s-\(UUID().uuidString.prefix(8))"
        self.net = subnet
    }

    private func prepare() throws {
        try FileManager.default.createDirectory(atPath: directory + "/serviceaccount", withIntermediateDirectories: true)
        try write("serviceaccount/token", "agent-token\n")
        try FileManager.default.copyItem(atPath: certificate.certificatePath, toPath: directory + "/serviceaccount/ca.crt")
        try run(["keygen", "--cluster", "c1", "--out", directory + "/keys"])
        try run(["keygen", "--cluster", "c2", "--out", directory + "/keys"])
        func publicKey(_ cluster: String) throws -> String {
            try String(contentsOfFile: "\(directory)/keys/\(cluster).pub", encoding: .utf8).split(separator: "\n")[0].description
        }
        try write("keys/trust.yaml", "clusters:\n  c1: [\(publicKey("c1"))]\n  c2: [\(publicKey("c2"))]\n")
    }

    func ip(_ host: Int) -> String { "127.\(net).7.\(host)" }

    /// What a process needs to reach the stand-in API server as if it ran in a pod.
    var inCluster: [String: String] {
        ["KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": String(server.port),
         "ZONE_AGENT_SERVICE_ACCOUNT_DIR": directory + "/serviceaccount"]
    }

    /// An agent of `cluster` at `ip(host)` with `endpoints` (the YAML value of `endpoints:`).
    func agentYAML(_ cluster: String, host: Int, join: [Int], endpoints: String) -> String {
        """
        node: \(cluster)-a
        cluster: \(cluster)
        gossip: { bind: "\(ip(host)):7946", join: [\(join.map { "\"\(ip($0)):7946\"" }.joined(separator: ", "))], profile: fast }
        keys: { signing: keys/\(cluster).key, trust: keys/trust.yaml }
        endpoints: \(endpoints)
        probe: { http: { path: /healthz }, interval: 500ms, timeout: 250ms, fall: 2, rise: 2 }
        """
    }

    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: "\(directory)/\(name)", atomically: true, encoding: .utf8)
    }

    func run(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "\(arguments)")
    }

    /// Starts `zone-agent ARGUMENTS` in the directory, its output in `NAME.log`.
    func start(_ name: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let path = "\(directory)/\(name).log"
        FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        lock.withLock { processes.append(process) }
    }

    /// Stops every process, the API server, and removes the directory.
    func stop() async {
        let all = lock.withLock { processes }
        // SIGTERM, as an operator stops them; what has not exited 5 s later (the contract's bound) is killed. Exits are
        // seen with waitpid rather than Foundation's termination notice, which can come late or not at all here.
        let pids = all.map(\.processIdentifier)
        for pid in pids { kill(pid, SIGTERM) }
        var running = Set(pids)
        func reap() {
            for pid in running {
                var status: Int32 = 0
                let result = waitpid(pid, &status, WNOHANG)
                if result == pid || (result == -1 && errno == ECHILD) { running.remove(pid) }
            }
        }
        let deadline = ContinuousClock.now + .seconds(5)
        while !running.isEmpty, ContinuousClock.now < deadline {
            reap()
            try? await Task.sleep(for: .milliseconds(20))
        }
        for pid in running {
            let arguments = all.first { $0.processIdentifier == pid }?.arguments ?? []
            print("zone-agent \(arguments.joined(separator: " ")) still running 5 s after SIGTERM: killed")
            kill(pid, SIGKILL)
        }
        let killDeadline = ContinuousClock.now + .seconds(2)
        while !running.isEmpty, ContinuousClock.now < killDeadline {
            reap()
            try? await Task.sleep(for: .milliseconds(20))
        }
        await server.stop()
        certificate.remove()
        try? FileManager.default.removeItem(atPath: directory)
    }

    func log(_ name: String) -> String { (try? String(contentsOfFile: "\(directory)/\(name).log", encoding: .utf8)) ?? "" }

    /// The effective weight of each cluster on the gateway's route for `path`; empty while it does not answer.
    func weights(admin: String, path: String = "/svc1") async -> [String: Int] {
        guard let data = try? await get(admin + "/v1/table"),
              let table = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let routes = table["routes"] as? [[String: Any]],
              let clusters = routes.first(where: { $0["path"] as? String == path })?["clusters"] as? [[String: Any]] else { return [:] }
        var out: [String: Int] = [:]
        for cluster in clusters {
            if let name = cluster["cluster"] as? String, let weight = cluster["effectiveWeight"] as? Int { out[name] = weight }
        }
        return out
    }

    /// The paths of the gateway's routes.
    func routePaths(admin: String) async -> [String] {
        guard let data = try? await get(admin + "/v1/table"),
              let table = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let routes = table["routes"] as? [[String: Any]] else { return [] }
        return routes.compactMap { $0["path"] as? String }
    }

    func get(_ url: String) async throws -> Data {
        var request = URLRequest(url: URL(string: url)!)
        request.timeoutInterval = 2
        return try await withCheckedThrowingContinuation { continuation in
            URLSession.shared.dataTask(with: request) { data, _, error in
                if let data { continuation.resume(returning: data) } else { continuation.resume(throwing: error ?? URLError(.badServerResponse)) }
            }.resume()
        }
    }

    /// Polls `condition` every 50 ms until it holds; fails with the processes' logs after `timeout`.
    @discardableResult
    func waitFor(_ what: String, timeout: Duration, _ condition: () async throws -> Bool) async throws -> Duration {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < timeout {
            if try await condition() { return ContinuousClock.now - start }
            try await Task.sleep(for: .milliseconds(50))
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".log") }) ?? []
        let logs = names.sorted().map { "--- \($0)\n" + log(String($0.dropLast(4))).suffix(1500) }.joined(separator: "\n")
        throw TimedOut(description: "timed out after \(timeout) waiting for \(what)\n\(logs)")
    }
}
