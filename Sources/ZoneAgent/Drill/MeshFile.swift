import Foundation
import Yams

/// `drill --mesh FILE`: an existing deployment, described by the URLs a drill watches and the shell commands that
/// act on it, so processes, systemd units and `kubectl` all work. Every command runs with `sh -c`.
///
/// ```yaml
/// gateway:
///   admin: http://10.0.0.5:9101            # the admin API (/v1/table)
///   proxy: http://10.0.0.5:8001/svc1       # where requests go ...
///   host: alb.ingress.alibaba.com          # ... with this Host header
///   token: admin-token                     # optional: the admin API's token file (admin.token)
///   kill: "kubectl -n zone-agent delete pod -l app=gateway --grace-period=0 --force"   # restart-gateway
///   start: "kubectl -n zone-agent rollout status deploy/gateway"
/// probe: { interval: 1s, fall: 2 }         # optional: the scale-to-zero bound
/// clusters:
///   c2:
///     kill: ...          start: ...        # kill-cluster
///     scaleToZero: "kubectl --context c2 -n gateway-demo scale deploy web-demo --replicas=0"
///     scaleBack: "kubectl --context c2 -n gateway-demo scale deploy web-demo --replicas=2"
///     killAgent: ...     startAgent: ...   # kill-agent
///     restartAgents: "kubectl --context c2 -n zone-agent rollout restart ds/zone-agent && kubectl --context c2 -n zone-agent rollout status ds/zone-agent"
///     pause: ...         resume: ...       # pause-cluster
///     cut: ...           heal: ...         # partition
///     drain: "zone-agent drain --admin URL --operator-key KEY --cluster c2 --for $DURATION"   # drain
/// loss: { start: "...", stop: "..." }      # packet-loss; the command may use $PERCENT
/// ```
struct MeshFile: Sendable {
    struct Commands: Sendable {
        var byKey: [String: String] = [:]
        subscript(_ key: String) -> String? { byKey[key] }
    }

    var adminURL: String
    /// The admin API's bearer token (`gateway.token: FILE`), where the gateway has one.
    var adminToken: String?
    var proxyURL: String
    var host: String
    var gateway: Commands
    var probeDetection: Duration?
    var clusters: [String: Commands]
    var loss: Commands

    static let clusterKeys = ["kill", "start", "scaleToZero", "scaleBack", "killAgent", "startAgent", "restartAgents",
                              "pause", "resume", "cut", "heal", "drain", "fault", "recover"]

    /// The commands each scenario needs, as `where.key`: checked before a drill starts so a missing one is a
    /// configuration error (exit 78), not a failure halfway through.
    static func required(for scenario: DrillScenario) -> [String] {
        switch scenario {
        case .killCluster: return ["cluster.kill", "cluster.start"]
        case .scaleToZero: return ["cluster.scaleToZero", "cluster.scaleBack"]
        case .killAgent: return ["cluster.killAgent", "cluster.startAgent"]
        case .rollingRestart: return ["cluster.restartAgents"]
        case .pauseCluster: return ["cluster.pause", "cluster.resume"]
        case .partition: return ["cluster.cut", "cluster.heal"]
        case .packetLoss: return ["loss.start", "loss.stop"]
        case .restartGateway: return ["gateway.kill", "gateway.start"]
        case .drain: return ["cluster.drain"]
        case .outlier: return ["cluster.fault", "cluster.recover"]
        case .isolateGateway, .pin, .splitMesh: return []
        }
    }

    static func load(path: String) throws(ConfigError) -> MeshFile {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: path, key: nil, problem: "cannot be read (missing, or no permission)")
        }
        return try parse(text, file: path)
    }

    static func parse(_ text: String, file: String) throws(ConfigError) -> MeshFile {
        let y = YAMLReader(file: file)
        let root = try y.document(text)
        let top = try y.mapping(root, at: "", allowed: ["gateway", "probe", "clusters", "loss"])
        guard let gatewayNode = top["gateway"] else { throw y.fail("gateway", "is required (admin, proxy, host)") }
        let g = try y.mapping(gatewayNode, at: "gateway", allowed: ["admin", "proxy", "host", "token", "kill", "start"])
        let admin = try url(y.requiredString(g["admin"], at: "gateway.admin"), y: y, at: "gateway.admin")
        let proxy = try url(y.requiredString(g["proxy"], at: "gateway.proxy"), y: y, at: "gateway.proxy")
        let host = try y.requiredString(g["host"], at: "gateway.host")
        var token: String?
        if let path = try y.string(g["token"], at: "gateway.token") {
            do { token = try AdminTokenFile.read(path: path) } catch { throw y.fail("gateway.token", "\(error)") }
        }
        var gateway = Commands()
        for key in ["kill", "start"] { gateway.byKey[key] = try y.string(g[key], at: "gateway.\(key)") }

        var detection: Duration?
        if let probeNode = top["probe"] {
            let p = try y.mapping(probeNode, at: "probe", allowed: ["interval", "fall"])
            if let interval = try y.duration(p["interval"], at: "probe.interval") {
                detection = interval * (try y.int(p["fall"], at: "probe.fall", range: 1...100) ?? 2)
            }
        }

        guard let clustersNode = top["clusters"]?.mapping, !clustersNode.isEmpty else {
            throw y.fail("clusters", "is required: a mapping from cluster id to the commands that act on it")
        }
        var clusters: [String: Commands] = [:]
        for (keyNode, value) in clustersNode {
            guard let cluster = keyNode.string, !cluster.isEmpty else { throw y.fail("clusters", "has a key that is not a cluster id") }
            let c = try y.mapping(value, at: "clusters.\(cluster)", allowed: clusterKeys)
            var commands = Commands()
            for key in clusterKeys { commands.byKey[key] = try y.string(c[key], at: "clusters.\(cluster).\(key)") }
            clusters[cluster] = commands
        }
        var loss = Commands()
        if let lossNode = top["loss"] {
            let l = try y.mapping(lossNode, at: "loss", allowed: ["start", "stop"])
            for key in ["start", "stop"] { loss.byKey[key] = try y.string(l[key], at: "loss.\(key)") }
        }
        return MeshFile(adminURL: admin, adminToken: token, proxyURL: proxy, host: host, gateway: gateway, probeDetection: detection,
                        clusters: clusters, loss: loss)
    }

    /// Checks that the file has every command `scenario` needs on `cluster`.
    func check(_ scenario: DrillScenario, cluster: String, file: String) throws(ConfigError) {
        guard !scenario.localOnly else {
            throw ConfigError(file: file, key: nil, problem: "cannot drive the \(scenario.rawValue) drill: it runs on the local mesh only (no --mesh)")
        }
        guard let commands = clusters[cluster] else {
            throw ConfigError(file: file, key: "clusters.\(cluster)",
                              problem: "is missing: the drill acts on \(cluster); clusters here: \(clusters.keys.sorted().joined(separator: ", "))")
        }
        for need in Self.required(for: scenario) {
            let parts = need.split(separator: ".").map(String.init)
            let (scope, key) = (parts[0], parts[1])
            let value: String? = scope == "cluster" ? commands[key] : scope == "loss" ? loss[key] : gateway[key]
            if value?.isEmpty ?? true {
                let path = scope == "cluster" ? "clusters.\(cluster).\(key)" : need
                throw ConfigError(file: file, key: path, problem: "is required for the \(scenario.rawValue) drill (a shell command)")
            }
        }
    }

    private static func url(_ text: String, y: YAMLReader, at path: String) throws(ConfigError) -> String {
        guard let u = URL(string: text), u.scheme == "http" || u.scheme == "https", u.host != nil else {
            throw y.fail(path, "`\(text)` is not an http:// URL")
        }
        return text.hasSuffix("/") && path == "gateway.admin" ? String(text.dropLast()) : text
    }
}

/// A deployment driven by a mesh file's shell commands.
struct ShellDrillTarget: DrillTarget {
    let file: MeshFile

    var proxyURL: String { file.proxyURL }
    var host: String { file.host }
    var adminURL: String { file.adminURL }
    var adminToken: String? { file.adminToken }
    var probeDetection: Duration? { file.probeDetection }
    var tableSource: DrillTableSource { .zoneAgent }

    func prepare() async throws {}
    func tearDown() {}

    func killCluster(_ cluster: String) async throws { try run(cluster, "kill") }
    func startCluster(_ cluster: String) async throws { try run(cluster, "start") }
    func scaleToZero(_ cluster: String) async throws { try run(cluster, "scaleToZero") }
    func scaleBack(_ cluster: String) async throws { try run(cluster, "scaleBack") }
    func killAgent(_ cluster: String) async throws -> String {
        try run(cluster, "killAgent")
        return "one agent of \(cluster)"
    }
    func startAgent(_ cluster: String, _ name: String) async throws { try run(cluster, "startAgent") }
    /// One step: the command restarts the whole cluster in turn (a DaemonSet's rolling update).
    func agents(of cluster: String) -> [String] { ["every agent of \(cluster)"] }
    func restartAgent(_ cluster: String, _ name: String) async throws { try run(cluster, "restartAgents") }
    func pause(_ cluster: String) async throws { try run(cluster, "pause") }
    func resume(_ cluster: String) async throws { try run(cluster, "resume") }
    func cut(_ cluster: String) async throws { try run(cluster, "cut") }
    func heal(_ cluster: String) async throws { try run(cluster, "heal") }
    func startLoss(percent: Int) async throws { try Self.shell(file.loss["start"] ?? "", environment: ["PERCENT": "\(percent)"]) }
    func stopLoss() async throws { try Self.shell(file.loss["stop"] ?? "") }
    func killGateway() async throws { try Self.shell(file.gateway["kill"] ?? "") }
    func fault(_ cluster: String) async throws { try run(cluster, "fault") }
    func recoverFault(_ cluster: String) async throws { try run(cluster, "recover") }
    func startGateway() async throws { try Self.shell(file.gateway["start"] ?? "") }
    func drain(_ cluster: String, for length: Duration) async throws {
        try Self.shell(file.clusters[cluster]?["drain"] ?? "", environment: ["DURATION": DurationText.format(length)])
    }

    private func run(_ cluster: String, _ key: String) throws {
        try Self.shell(file.clusters[cluster]?[key] ?? "")
    }

    /// Runs `command` with `sh -c`, its output passed through; a non-zero exit is an error naming the command.
    static func shell(_ command: String, environment: [String: String] = [:]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw DrillError("`\(command)` exited \(p.terminationStatus)") }
    }
}
