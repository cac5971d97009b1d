import AsyncHTTPClient
import Foundation
import MeshCrypto
import NIOCore
import NIOHTTP1
import Wire

/// The drill's own mesh: the demo's two clusters of real processes on loopback. Faults are real signals; a cut
/// and packet loss are iptables rules, which the drill applies only inside a network namespace of its own
/// (`NetworkNamespace`), so nothing outside the drill ever sees them and they vanish with it.
final class LocalDrillTarget: DrillTarget, @unchecked Sendable {
    let mesh: LocalMesh
    private let filter: PacketFilter?
    private let lock = NSLock()
    private var cuts: [String: [[String]]] = [:]
    private var lossRule: [String]?
    private var isolation: [[String]] = []
    /// The rules that mark the gateways' connections (`markGatewayConnections`), for the whole drill.
    private var marks: [[String]] = []

    /// HAProxy in the gateway's place, for `make bench-failover`; nil: zone-agent's gateway.
    let anchor: HAProxyAnchor?

    init(mesh: LocalMesh, inNetworkNamespace: Bool, anchor: HAProxyAnchor? = nil) {
        self.mesh = mesh
        self.filter = inNetworkNamespace ? PacketFilter() : nil
        self.anchor = anchor
    }

    var proxyURL: String { mesh.proxyURL }
    var host: String { LocalMesh.host }
    var adminURL: String { mesh.adminURL }
    var adminToken: String? { nil }
    var probeDetection: Duration? { anchor == nil ? .milliseconds(500 * 2) : nil }
    var tableSource: DrillTableSource { anchor == nil ? .zoneAgent : .haproxyStats(mesh.adminURL + "/stats;csv") }

    func prepare() async throws {
        try mesh.writeConfiguration()
        for cluster in mesh.clusters { try mesh.startCluster(cluster) }
        markGatewayConnections()
        if let anchor {
            guard let haproxy = HAProxyAnchor.executable() else { throw DrillError("haproxy is not installed (Debian: haproxy)") }
            try mesh.write("haproxy.cfg", anchor.configuration(for: mesh))
            try mesh.startAsGateway("gateway", executable: haproxy, ["-f", "\(mesh.dir)/haproxy.cfg", "-db"])
            let configured = mesh.layout.clusters
            try await mesh.waitFor("HAProxy with every server up", timeout: .seconds(30)) {
                guard let answer = try? await self.mesh.get(self.mesh.adminURL + "/stats;csv") else { return false }
                return HAProxyAnchor.weights(csv: answer.body) == configured
            }
            return
        }
        for name in mesh.gatewayNames { try mesh.startGateway(name) }
        try await mesh.waitFor("both clusters active at their configured weights", timeout: .seconds(60)) { await self.mesh.isSteady() }
    }

    func tearDown() {
        try? clearFilters()
        mesh.stopAll()
    }

    func killCluster(_ cluster: String) async throws { mesh.kill(mesh.agentNames(cluster) + mesh.backendNames(cluster)) }
    func startCluster(_ cluster: String) async throws { try mesh.startCluster(cluster) }
    func scaleToZero(_ cluster: String) async throws { mesh.kill(mesh.backendNames(cluster)) }
    func scaleBack(_ cluster: String) async throws { try mesh.startBackends(cluster) }

    func killAgent(_ cluster: String) async throws -> String {
        // The last agent: the first is every member's seed, and a drill of one agent should not also test seeds.
        let name = mesh.agentNames(cluster).last!
        mesh.kill([name])
        return name
    }

    func startAgent(_ cluster: String, _ name: String) async throws { try mesh.startAgent(name) }
    func agents(of cluster: String) -> [String] { mesh.agentNames(cluster) }

    func restartAgent(_ cluster: String, _ name: String) async throws {
        mesh.kill([name], signal: SIGTERM)
        try mesh.startAgent(name)
    }

    func pause(_ cluster: String) async throws { mesh.signal(mesh.agentNames(cluster) + mesh.backendNames(cluster), SIGSTOP) }
    func resume(_ cluster: String) async throws { mesh.signal(mesh.agentNames(cluster) + mesh.backendNames(cluster), SIGCONT) }

    /// The connection mark of the gateways' connections: conntrack carries it to both directions of each.
    private static let gatewayMark = "0x2a"

    /// Marks every connection a gateway (or HAProxy in its place) opens, by its uid, before it opens any: a cut
    /// tells them from the agents' probes by it (`cut`). Needs the gateways under uids of their own; else nothing.
    /// A kernel without connection marks (conntrack) gets none, and the cut then cuts the agents' probes too.
    private func markGatewayConnections() {
        guard let filter, mesh.gatewayNames.allSatisfy({ mesh.uid(ofGateway: $0) != nil }) else { return }
        for uid in mesh.gatewayNames.compactMap(mesh.uid(ofGateway:)) {
            let rule = ["OUTPUT", "-t", "mangle", "-m", "owner", "--uid-owner", "\(uid)", "-j", "CONNMARK", "--set-mark", Self.gatewayMark]
            do {
                try filter.insert(rule)
                lock.withLock { marks.append(rule) }
            } catch {
                // All or none: a gateway whose connections went unmarked would keep the cut cluster.
                for rule in lock.withLock({ () -> [[String]] in defer { marks = [] }; return marks }) { try? filter.delete(rule) }
                return
            }
        }
    }

    /// Cuts the cluster's network: every packet between its addresses and any other, both ways. DROP, not REJECT:
    /// connections hang, as across a cut link.
    ///
    /// Across zones the cluster's agents would still reach their own backends. On one loopback their probes leave
    /// from 127.0.0.1, as the gateway's requests do, so streams between 127.0.0.1 and the cluster pass unless they
    /// are gossip (state sync, port 7946) or the gateway's, marked by its uid as they were opened
    /// (`markGatewayConnections`): the gateway loses the cluster both ways, its agents keep their backends. Before,
    /// the agents saw their backends die, and the digests they issued during the cut reached the gateway after the
    /// heal and restarted its hold-down (the pin drill at `fast` with a 20 s cut failed about half the time).
    func cut(_ cluster: String) async throws {
        let filter = try requireFilter("partition")
        let net = mesh.subnet(of: cluster)
        var rules = [["INPUT", "-s", net, "!", "-d", net, "-j", "DROP"], ["INPUT", "!", "-s", net, "-d", net, "-j", "DROP"]]
        if !lock.withLock({ marks.isEmpty }) {
            // Inserted last, so matched first.
            let notGateway = ["-m", "connmark", "!", "--mark", Self.gatewayMark, "-j", "ACCEPT"]
            rules += [["INPUT", "-s", "127.0.0.1", "-d", net, "-p", "tcp", "!", "--dport", "7946"] + notGateway,
                      ["INPUT", "-s", net, "-d", "127.0.0.1", "-p", "tcp", "!", "--sport", "7946"] + notGateway]
        }
        // Kept as each goes in, so a heal or tear-down after a failed insert removes exactly what is there.
        for rule in rules {
            try filter.insert(rule)
            lock.withLock { cuts[cluster, default: []].append(rule) }
        }
    }

    func heal(_ cluster: String) async throws {
        let filter = try requireFilter("partition")
        for rule in lock.withLock({ cuts.removeValue(forKey: cluster) ?? [] }) { try filter.delete(rule) }
    }

    func startLoss(percent: Int) async throws {
        let filter = try requireFilter("packet-loss")
        // Gossip only (UDP to the mesh's gossip port); requests and state sync are TCP and pass.
        let rule = ["INPUT", "-p", "udp", "--dport", "7946", "-m", "statistic", "--mode", "random",
                    "--probability", String(format: "%.4f", Double(percent) / 100), "-j", "DROP"]
        try filter.insert(rule)
        lock.withLock { lossRule = rule }
    }

    func stopLoss() async throws {
        guard let rule = lock.withLock({ lossRule }) else { return }
        try requireFilter("packet-loss").delete(rule)
        lock.withLock { lossRule = nil }
    }

    func isolateGateway() async throws {
        let filter = try requireFilter("isolate-gateway")
        let rules = Self.gossipCut(of: "127.\(mesh.net).99.0/24")
        for rule in rules { try filter.insert(rule) }
        lock.withLock { isolation = rules }
    }

    func rejoinGateway() async throws {
        let filter = try requireFilter("isolate-gateway")
        for rule in lock.withLock({ () -> [[String]] in defer { isolation = [] }; return isolation }) { try filter.delete(rule) }
    }

    /// `split-mesh`'s sides: the first gateway with every cluster but `cluster`, the second gateway with `cluster`.
    func splitSides(_ cluster: String) throws -> [SplitSide] {
        guard mesh.layout.secondGateway else { throw DrillError("split-mesh needs the local mesh's second gateway") }
        func side(_ gateway: String, _ clusters: [String]) -> SplitSide {
            SplitSide(gateway: DrillGateway(name: gateway, proxyURL: mesh.proxyURL(of: gateway), host: LocalMesh.host,
                                            adminURL: mesh.adminURL(of: gateway)), clusters: clusters)
        }
        return [side("gateway", mesh.clusters.filter { $0 != cluster }), side(LocalMesh.secondGatewayName, [cluster])]
    }

    /// Cuts the mesh between the sides. Gossip: every packet between one side's addresses (its clusters' and its
    /// gateway's, which gossip and state sync bind) and the other's, both ways; nothing else travels between them.
    /// Requests: each gateway's connections to the other side's backends, which come from 127.0.0.1 and so are
    /// told apart by the gateway's uid. DROP, not REJECT: connections hang, as across a cut link. The agents'
    /// probes of their own backends (root, from 127.0.0.1) match neither.
    func split(_ sides: [SplitSide]) async throws {
        let filter = try requireFilter("split-mesh")
        guard sides.count == 2 else { throw DrillError("split-mesh cuts a mesh in two sides, not \(sides.count)") }
        func nets(_ side: SplitSide) -> [String] { side.clusters.map(mesh.subnet(of:)) + [mesh.gatewaySubnet(side.gateway.name)] }
        var rules: [[String]] = []
        for a in nets(sides[0]) {
            for b in nets(sides[1]) { rules += [["INPUT", "-s", a, "-d", b, "-j", "DROP"], ["INPUT", "-s", b, "-d", a, "-j", "DROP"]] }
        }
        for (mine, other) in [(sides[0], sides[1]), (sides[1], sides[0])] {
            guard let uid = mesh.uid(ofGateway: mine.gateway.name) else { throw DrillError("\(mine.gateway.name) has no uid of its own") }
            for net in other.clusters.map(mesh.subnet(of:)) {
                // TCP only: a gateway's gossip datagrams to the other side are dropped on INPUT above; dropped
                // here, its own send would fail at once (EPERM), not as across a link.
                rules.append(["OUTPUT", "-p", "tcp", "-d", net, "-m", "owner", "--uid-owner", "\(uid)", "-j", "DROP"])
            }
        }
        // Kept as each goes in, so a heal or tear-down after a failed insert removes exactly what is there.
        for rule in rules {
            try filter.insert(rule)
            lock.withLock { cuts[Self.splitKey, default: []].append(rule) }
        }
    }

    /// Heals the split: its rules are kept with the cuts, under their own key.
    func mend() async throws { try await heal(Self.splitKey) }

    /// The split's rules live with the cuts (so tear-down clears them) under a key no cluster can have.
    private static let splitKey = "split mesh"

    /// Drops gossip (UDP and state sync, both on the gossip port) to and from `subnet`, both ways. Requests are
    /// other ports and pass: the gateway still reaches every backend, it only stops hearing the mesh.
    static func gossipCut(of subnet: String) -> [[String]] {
        ["udp", "tcp"].flatMap { proto in
            ["-s", "-d"].flatMap { side in
                ["--dport", "--sport"].map { port in ["INPUT", side, subnet, "-p", proto, port, "7946", "-j", "DROP"] }
            }
        }
    }

    func killGateway() async throws { mesh.kill(["gateway"]) }
    func fault(_ cluster: String) async throws { try await mesh.postBackends(cluster, "/admin/fault") }
    func recoverFault(_ cluster: String) async throws { try await mesh.postBackends(cluster, "/admin/recover") }
    func startGateway() async throws {
        guard anchor != nil, let haproxy = HAProxyAnchor.executable() else { return try mesh.startGateway() }
        try mesh.startAsGateway("gateway", executable: haproxy, ["-f", "\(mesh.dir)/haproxy.cfg", "-db"])
    }

    /// Signs the order with the mesh's operator key (`keys/operator.key`) and posts it, as `zone-agent drain` does.
    func drain(_ cluster: String, for length: Duration) async throws {
        let key = try KeyFiles.readSigningKey(path: mesh.dir + "/keys/operator.key")
        let now = wallClockMillis()
        let millis = UInt64(length.components.seconds) * 1000 + UInt64(length.components.attoseconds / 1_000_000_000_000_000)
        let signed = SignedDrain(signing: DrainRecord(cluster: cluster, issuedAtMillis: now, untilMillis: now + millis), with: key)
        var request = HTTPClientRequest(url: adminURL + "/v1/drains")
        request.method = .POST
        request.body = .bytes(ByteBuffer(bytes: signed.packet))
        let response = try await mesh.http.execute(request, timeout: .seconds(5))
        let text = String(buffer: try await response.body.collect(upTo: 64 << 10))
        guard response.status == .ok else { throw DrillError("the gateway refused the drain: \(response.status.code) \(text)") }
    }

    private func requireFilter(_ scenario: String) throws -> PacketFilter {
        guard let filter else { throw DrillError("\(scenario) on the local mesh needs its own network namespace (run as root, with unshare)") }
        return filter
    }

    private func clearFilters() throws {
        guard let filter else { return }
        let rules = lock.withLock { cuts.values.flatMap { $0 } + (lossRule.map { [$0] } ?? []) + isolation + marks }
        for rule in rules { try? filter.delete(rule) }
    }
}

/// iptables in the drill's own network namespace.
struct PacketFilter: Sendable {
    func insert(_ rule: [String]) throws { try run(["-I"] + rule) }
    func delete(_ rule: [String]) throws { try run(["-D"] + rule) }

    private func run(_ arguments: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: NetworkNamespace.find("iptables") ?? "/usr/sbin/iptables")
        p.arguments = ["-w"] + arguments
        let err = Pipe()
        p.standardError = err
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw DrillError("iptables \(arguments.joined(separator: " ")) failed: \(text)")
        }
    }
}

/// Runs the drill inside a network namespace of its own: a private loopback on which packet filters touch only the
/// drill's processes and disappear with it.
enum NetworkNamespace {
    static let marker = "ZONE_AGENT_DRILL_NETNS"

    static var isInside: Bool { ProcessInfo.processInfo.environment[marker] == "1" }

    static func find(_ tool: String) -> String? {
        ["/usr/sbin/", "/usr/bin/", "/sbin/", "/bin/"].map { $0 + tool }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Replaces this process with itself inside a new network namespace (loopback up); returns only on failure.
    static func reexec(arguments: [String]) -> DrillError {
        guard getuid() == 0 else { return DrillError("a network namespace needs root (or run the scenarios that need none)") }
        guard let unshare = find("unshare"), let ip = find("ip"), find("iptables") != nil else {
            return DrillError("a network namespace needs unshare, ip and iptables (Debian: util-linux, iproute2, iptables)")
        }
        setenv(marker, "1", 1)
        let argv = [unshare, "--net", "--", "/bin/sh", "-c", "\(ip) link set lo up && exec \"$0\" \"$@\"",
                    DemoCommand.selfPath()] + arguments
        var cArgs = argv.map { strdup($0) } + [nil]
        execv(unshare, &cArgs)
        return DrillError("cannot start \(unshare): \(String(cString: strerror(errno)))")
    }
}
