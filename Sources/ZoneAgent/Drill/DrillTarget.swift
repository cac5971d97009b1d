/// What a drill acts on: the local mesh it builds itself, or a deployment described by a mesh file whose shell
/// commands do the acting (processes, systemd units, `kubectl`).
protocol DrillTarget: Sendable {
    /// The proxy URL requests go to (scheme, authority and path), and the Host header they carry.
    var proxyURL: String { get }
    var host: String { get }
    /// The gateway's admin API (`/v1/table`, `/v1/members`), and its bearer token where it has one.
    var adminURL: String { get }
    var adminToken: String? { get }
    /// `probe.interval × probe.fall` of the agents, when known: the scale-to-zero bound.
    var probeDetection: Duration? { get }
    /// Where the drill reads the gateway's view of the weights.
    var tableSource: DrillTableSource { get }

    /// Makes the target ready: for the local mesh, writes keys and configs and starts every process.
    func prepare() async throws
    /// Stops whatever `prepare` started; also called when the drill is interrupted.
    func tearDown()

    func killCluster(_ cluster: String) async throws
    func startCluster(_ cluster: String) async throws
    func scaleToZero(_ cluster: String) async throws
    func scaleBack(_ cluster: String) async throws
    /// Kills one agent of the cluster; returns its name.
    func killAgent(_ cluster: String) async throws -> String
    func startAgent(_ cluster: String, _ name: String) async throws
    /// The agents of a cluster that a rolling restart takes in turn, each restarted by `restartAgent`.
    func agents(of cluster: String) -> [String]
    func restartAgent(_ cluster: String, _ name: String) async throws
    func pause(_ cluster: String) async throws
    func resume(_ cluster: String) async throws
    func cut(_ cluster: String) async throws
    func heal(_ cluster: String) async throws
    func startLoss(percent: Int) async throws
    func stopLoss() async throws
    func killGateway() async throws
    /// Makes the cluster's backends answer 500 to requests while their probes still pass (`outlier`), and back.
    func fault(_ cluster: String) async throws
    func recoverFault(_ cluster: String) async throws
    func startGateway() async throws
    /// Drains the cluster for `length` with an operator key (`zone-agent drain`).
    func drain(_ cluster: String, for length: Duration) async throws
    /// Cuts the gateway's gossip from every member, both ways, while its requests to the backends still pass.
    func isolateGateway() async throws
    func rejoinGateway() async throws
}

extension DrillTarget {
    func isolateGateway() async throws { throw DrillError("isolate-gateway runs on the local mesh only") }
    func rejoinGateway() async throws {}
}

/// Why a drill could not act.
struct DrillError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Where a drill reads the weights the gateway routes by.
enum DrillTableSource: Sendable {
    /// zone-agent's `/v1/table` under this admin URL.
    case zoneAgent
    /// HAProxy's stats CSV at this URL (the anchor of `make bench-failover`).
    case haproxyStats(String)
}
