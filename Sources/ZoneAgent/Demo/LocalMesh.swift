import AsyncHTTPClient
import Foundation
import MeshCrypto
import NIOCore

/// A whole zone-agent deployment on loopback, made of real processes of this binary: per cluster, agents and
/// demo backends; one gateway on the seed's Ingress (two for `split-mesh`). The demo, the drills and the
/// integration tests drive it.
///
/// Each mesh takes its own 127.N.x.y addresses, so its fixed ports collide with nothing else on the machine.
final class LocalMesh: @unchecked Sendable {
    struct Layout: Sendable {
        var clusters: [String: Int] = ["c1": 20, "c2": 80]
        var agentsPerCluster = 3
        var backendsPerCluster = 2
        var profile = "lan"
        var holdDown = "10s"
        var slowStart = "10s"
        var probe = "probe: { http: { path: /healthz }, interval: 500ms, timeout: 250ms, fall: 2, rise: 2 }"
        /// More gateway configuration, appended as is (`outputs:` for instance).
        var gatewayExtra = ""
        /// More `failover:` entries of the gateway, flow YAML (`priority: [[c1], [c2]]`): a drill's policy.
        var failoverExtra = ""
        /// More `proxy:` entries of the gateway, flow YAML (`pinHeader: x-zone-cluster-pin`).
        var proxyExtra = ""
        /// A second gateway, `gateway-b` on group 98 (`split-mesh`). See LocalMesh+Gateways.swift.
        var secondGateway = false
        /// Each gateway under a uid of its own, so that a packet filter can tell its requests from the agents'
        /// probes and from the other gateway's (`partition`, `pin`, `split-mesh`; root in the drill's network
        /// namespace). See LocalMesh+Gateways.swift.
        var gatewaysUnderOwnUIDs = false
    }

    static let host = "alb.ingress.alibaba.com"
    let dir: String
    let binary: String
    let layout: Layout
    let net: Int
    private let lock = NSLock()
    private var processes: [String: Process] = [:]
    let http = HTTPClient(eventLoopGroupProvider: .singleton,
                          configuration: .init(timeout: .init(connect: .seconds(2), read: .seconds(5))))

    init(directory: String, binary: String, layout: Layout = Layout()) throws {
        self.dir = directory
        self.binary = binary
        self.layout = layout
        self.net = Self.freeNet()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    /// Meshes made by this process so far: each takes the next network, so a repeated drill never meets the
    /// sockets its predecessor left in TIME_WAIT.
    nonisolated(unsafe) private static var made = 0
    private static let madeLock = NSLock()

    /// A network 127.N.0.0/16 (N in 100...249) that no other mesh on this machine is using: one whose gateway
    /// addresses can be bound. Two test runs or drills at once must never talk to each other's gateway.
    static func freeNet() -> Int {
        let offset = madeLock.withLock { () -> Int in defer { made += 1 }; return made }
        let start = (Int(getpid()) + offset * 37) % 150
        for i in 0..<150 {
            let net = 100 + (start + i) % 150
            if canBind("127.\(net).99.1", 9101) && canBind("127.\(net).99.1", 8001) { return net }
        }
        return 100 + start
    }

    private static func canBind(_ host: String, _ port: UInt16) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        inet_pton(AF_INET, host, &address.sin_addr)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    var clusters: [String] { layout.clusters.keys.sorted() }
    var proxyURL: String { "http://\(ip(99, 1)):8001/svc1" }
    var adminURL: String { "http://\(ip(99, 1)):9101" }

    /// An address of this mesh: 127.N.GROUP.HOST (clusters are groups 1, 2, …; the gateway is group 99).
    func ip(_ group: Int, _ host: Int) -> String { "127.\(net).\(group).\(host)" }

    func group(of cluster: String) -> Int { (clusters.firstIndex(of: cluster) ?? 0) + 1 }

    func agentName(_ cluster: String, _ i: Int) -> String { "\(cluster)-\(Character(UnicodeScalar(UInt8(96 + i))))" }

    func agentNames(_ cluster: String) -> [String] { (1...layout.agentsPerCluster).map { agentName(cluster, $0) } }

    func backendNames(_ cluster: String) -> [String] { (1...layout.backendsPerCluster).map { "backend-\(cluster)-\($0)" } }

    // MARK: Set-up

    /// The seed's Ingress for this mesh's host with `weights` (cluster → weight) as its annotations.
    static func ingress(weights: [String: Int]) -> String {
        let annotations = weights.keys.sorted().map { "    alb.ingress.kubernetes.io/cluster-weight.\($0): \"\(weights[$0]!)\"" }
            .joined(separator: "\n")
        return """
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata:
          annotations:
        \(annotations)
          name: web-demo
          namespace: gateway-demo
        spec:
          ingressClassName: alb
          rules:
          - host: \(Self.host)
            http:
              paths:
              - path: /svc1
                pathType: Prefix
                backend:
                  service:
                    name: service1
                    port:
                      number: 80

        """
    }

    /// Keys, trust roster, the seed's Ingress with these clusters' weights, and a config per process.
    func writeConfiguration() throws {
        var roster: [String: [PublicKey]] = [:]
        for cluster in clusters {
            roster[cluster] = [try KeyFiles.writeClusterKey(cluster: cluster, directory: dir + "/keys", force: true).publicKey]
        }
        try KeyFiles.writeMeshKey(directory: dir + "/keys", force: true)
        // keys/operator.key signs `zone-agent drain` orders against this mesh.
        let operatorKey = try KeyFiles.writeOperatorKey(directory: dir + "/keys", force: true).publicKey
        try write("keys/trust.yaml", TrustRoster(roster, operators: [operatorKey]).yaml)
        try write("ingress-demo.yaml", Self.ingress(weights: layout.clusters))
        let join = "[" + clusters.map { "\(ip(group(of: $0), 1)):7946" }.joined(separator: ", ") + "]"
        for cluster in clusters {
            let g = group(of: cluster)
            let endpoints = (1...layout.backendsPerCluster).map {
                "    - { service: gateway-demo/service1, address: \"\(ip(g, 10 + $0)):8080\" }"
            }.joined(separator: "\n")
            for i in 1...layout.agentsPerCluster {
                try write("\(agentName(cluster, i)).yaml", """
                node: \(agentName(cluster, i))
                cluster: \(cluster)
                zone: zone-\(g)
                gossip: { bind: "\(ip(g, i)):7946", join: \(join), profile: \(layout.profile) }
                keys: { signing: keys/\(cluster).key, trust: keys/trust.yaml, mesh: keys/mesh.key }
                admin: { listen: "\(ip(g, i)):9101" }
                endpoints:
                  static:
                \(endpoints)
                \(layout.probe)

                """)
            }
        }
        for name in gatewayNames { try writeGateway(name, join: join) }
    }

    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: "\(dir)/\(name)", atomically: true, encoding: .utf8)
    }

    // MARK: Processes

    /// Starts the backends and agents of `cluster`.
    func startCluster(_ cluster: String) throws {
        try startBackends(cluster)
        for name in agentNames(cluster) { try startAgent(name) }
    }

    /// Starts the demo backends of `cluster` (the pods of the seed's `web-demo`).
    func startBackends(_ cluster: String) throws {
        let g = group(of: cluster)
        for (i, name) in backendNames(cluster).enumerated() {
            try start(name, ["backend", "--name", "web-demo-\(cluster)", "--listen", "\(ip(g, 11 + i)):8080"])
        }
    }

    func startAgent(_ name: String) throws { try start(name, ["agent", "--config", "\(name).yaml"]) }

    /// The address range of a cluster's processes, for a packet filter: 127.N.GROUP.0/24.
    func subnet(of cluster: String) -> String { "127.\(net).\(group(of: cluster)).0/24" }

    /// Starts a process of this binary named `name`, its output in `DIR/name.log`.
    func start(_ name: String, _ arguments: [String]) throws {
        try start(name, executable: binary, arguments)
    }

    /// Starts any program as part of the mesh (HAProxy, say), its output in `DIR/name.log`.
    func start(_ name: String, executable: String, _ arguments: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        let path = "\(dir)/\(name).log"
        // Appended to, not replaced: a restarted process's log follows its predecessor's, which a drill's reader wants.
        guard FileManager.default.fileExists(atPath: path) || FileManager.default.createFile(atPath: path, contents: nil) else {
            throw LocalMeshError.cannotWrite(path)
        }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        log.seekToEndOfFile()
        p.standardOutput = log
        p.standardError = log
        try p.run()
        lock.withLock { processes[name] = p }
    }

    /// Sends `signal` to the named processes and waits for them to exit.
    func kill(_ names: [String], signal: Int32 = SIGKILL) {
        let targets = lock.withLock { names.compactMap { processes[$0] } }
        for p in targets where p.isRunning { Foundation.kill(p.processIdentifier, signal) }
        for p in targets { p.waitUntilExit() }
    }

    /// Sends `signal` to the named processes without waiting (SIGSTOP, SIGCONT).
    func signal(_ names: [String], _ signal: Int32) {
        let targets = lock.withLock { names.compactMap { processes[$0] } }
        for p in targets where p.isRunning { Foundation.kill(p.processIdentifier, signal) }
    }

    func isRunning(_ name: String) -> Bool { lock.withLock { processes[name]?.isRunning ?? false } }

    /// The exit status of a process that has ended.
    func exitStatus(_ name: String) -> Int32? {
        lock.withLock { processes[name].flatMap { $0.isRunning ? nil : $0.terminationStatus } }
    }

    /// Stops every process (SIGKILL, after SIGCONT for any a drill paused) and the HTTP client.
    func stopAll() {
        let names = lock.withLock { Array(processes.keys) }
        signal(names, SIGCONT)
        kill(names)
        try? http.syncShutdown()
    }

    /// The last lines of every log, for a failure report.
    func logs(lines: Int = 15) -> String {
        lock.withLock { processes.keys.sorted() }.map { name in
            let text = (try? String(contentsOfFile: "\(dir)/\(name).log", encoding: .utf8)) ?? ""
            return "--- \(name).log\n" + text.split(separator: "\n").suffix(lines).joined(separator: "\n")
        }.joined(separator: "\n")
    }

    // MARK: Looking at it

    struct Answer: Sendable {
        var status: UInt
        var cluster: String?
        var body: String
    }

    func get(_ url: String, host: String? = nil) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        if let host { request.headers.replaceOrAdd(name: "Host", value: host) }
        let response = try await http.execute(request, timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 16 << 20)
        return Answer(status: response.status.code, cluster: response.headers.first(name: "x-zone-cluster"), body: String(buffer: body))
    }

    /// POSTs `path` to every demo backend of `cluster` (`/admin/fault`, `/admin/recover`).
    func postBackends(_ cluster: String, _ path: String) async throws {
        for i in 0..<layout.backendsPerCluster {
            var request = HTTPClientRequest(url: "http://\(ip(group(of: cluster), 11 + i)):8080\(path)")
            request.method = .POST
            let response = try await http.execute(request, timeout: .seconds(5))
            guard response.status == .ok else { throw DrillError("POST \(path) to a backend of \(cluster) answered \(response.status.code)") }
        }
    }

    func json(_ url: String) async throws -> [String: Any] {
        let answer = try await get(url)
        return (try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]) ?? [:]
    }

    /// The route's clusters as the gateway reports them: effective weight, "healthy/total", state.
    func clusterView() async -> [String: (weight: Int, healthy: String, state: String)] {
        guard let table = try? await json(adminURL + "/v1/table"),
              let clusters = ((table["routes"] as? [[String: Any]])?.first?["clusters"]) as? [[String: Any]] else { return [:] }
        var out: [String: (Int, String, String)] = [:]
        for c in clusters {
            out[c["cluster"] as? String ?? "?"] = (c["effectiveWeight"] as? Int ?? -1,
                                                   "\(c["healthyEndpoints"] ?? 0)/\(c["totalEndpoints"] ?? 0)",
                                                   c["state"] as? String ?? "")
        }
        return out
    }

    func weights() async -> [String: Int] { await clusterView().mapValues(\.weight) }

    /// Whether every cluster serves its configured weight with every endpoint healthy.
    func isSteady() async -> Bool {
        let view = await clusterView()
        return clusters.allSatisfy { c in
            view[c]?.weight == layout.clusters[c] && view[c]?.state == "active"
                && view[c]?.healthy == "\(layout.backendsPerCluster)/\(layout.backendsPerCluster)"
        }
    }

    /// Sends `n` requests one after another and counts the answers by body (or status).
    func split(_ n: Int) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for _ in 0..<n {
            let answer = try await get(proxyURL, host: Self.host)
            let key = answer.status == 200 ? answer.body.trimmingCharacters(in: .whitespacesAndNewlines) : "HTTP \(answer.status)"
            counts[key, default: 0] += 1
        }
        return counts
    }

    /// One request of a stream: when it ended, its status (or error), the cluster that served it.
    struct StreamedRequest: Sendable {
        var at: ContinuousClock.Instant
        var outcome: String
        var cluster: String?
        var ok: Bool { outcome == "200" }
    }

    /// Sends requests back to back until `stop` returns true (at most 100,000).
    func stream(until stop: @escaping @Sendable () -> Bool) -> Task<[StreamedRequest], Never> {
        Task {
            var results: [StreamedRequest] = []
            while !stop() && results.count < 100_000 {
                do {
                    let a = try await get(proxyURL, host: Self.host)
                    results.append(StreamedRequest(at: .now, outcome: "\(a.status)", cluster: a.cluster))
                } catch {
                    results.append(StreamedRequest(at: .now, outcome: "error: \(error)", cluster: nil))
                }
            }
            return results
        }
    }

    /// Polls `condition` every 50 ms until it holds or `timeout` passes; returns how long it took.
    @discardableResult
    func waitFor(_ what: String, timeout: Duration, _ condition: () async -> Bool) async throws -> Duration {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < timeout {
            if await condition() { return ContinuousClock.now - start }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw LocalMeshError.timedOut(what: what, after: timeout, logs: logs())
    }
}

enum LocalMeshError: Error, CustomStringConvertible {
    case timedOut(what: String, after: Duration, logs: String)
    case cannotWrite(String)
    var description: String {
        switch self {
        case .cannotWrite(let path): return "cannot write \(path)"
        case .timedOut(let what, let after, let logs): return "timed out after \(after) waiting for \(what)\n\(logs)"
        }
    }
}

/// A flag set once by one task and read by another.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
