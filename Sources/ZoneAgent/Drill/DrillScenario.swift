/// The faults a drill can play (CONTRACT.md), each with the expectation it checks.
enum DrillScenario: String, Sendable, CaseIterable, Codable {
    case killCluster = "kill-cluster"
    case scaleToZero = "scale-to-zero"
    case killAgent = "kill-agent"
    case rollingRestart = "rolling-restart"
    case pauseCluster = "pause-cluster"
    case partition
    case packetLoss = "packet-loss"
    case restartGateway = "restart-gateway"
    case drain
    case outlier
    case isolateGateway = "isolate-gateway"
    case pin
    case splitMesh = "split-mesh"

    var expectation: String {
        switch self {
        case .killCluster:
            return "every agent and backend of the cluster SIGKILLed: the table moves its share away, no request fails; restarted, it gets its share back after the hold-down"
        case .scaleToZero:
            return "the cluster's backends gone, its agents up (the seed's drill): the table moves within probe interval × fall + 200 ms, no request fails; the backends back, the traffic returns after the hold-down"
        case .killAgent:
            return "one agent SIGKILLed, its pods fine: no weight changes, no request fails"
        case .rollingRestart:
            return "every agent of the cluster restarted in turn (SIGTERM, start, alive again): no weight changes, no request fails"
        case .pauseCluster:
            return "the cluster's agents and backends SIGSTOPped, then SIGCONT: the traffic moves away while paused and returns after the hold-down, no request fails"
        case .partition:
            return "the cluster's network cut (gossip dropped both ways, connections to its backends hang): the traffic moves away, no request fails, the mesh heals by itself"
        case .packetLoss:
            return "a share of every gossip packet dropped for a while: no routing change, no request fails"
        case .restartGateway:
            return "the gateway SIGKILLed and started again: it serves the right table before it accepts traffic"
        case .drain:
            return "an operator's signed drain of the cluster for a few seconds (`zone-agent drain`): the traffic moves away at once, no request fails; when the drain runs out it returns after the hold-down"
        case .outlier:
            return "the cluster's backends answer 500 to requests while passing their probes: the gateway's outlier detection moves its share away after a few failed requests; fixed, the share returns when the demotion ends"
        case .pin:
            return "requests pinned to each cluster by the pin header (proxy.pinHeader) while the cluster's network is cut: pinned to a live cluster, served by it; pinned to the cut one, 503 once the table has dropped it and served again once it is back; unpinned requests, no failure"
        case .isolateGateway:
            return "the gateway's gossip cut from every cluster, its requests still pass: it serves what whenNoneHealthy says (last-good, all: no request fails; none: 503), and the configured weights come back once it hears the mesh again"
        case .splitMesh:
            return "the mesh split in two with a gateway on each side (the drilled cluster and a second gateway, the other clusters and the first; gossip dropped between the sides, each gateway's requests to the other side hang): each gateway serves its own side's clusters as its policy says, no request fails (with two clusters across the cut, only one whose try and one retry both crossed it before the table moved: 502), and after the heal both are back at the configured weights with the same table"
        }
    }

    /// Whether the scenario takes the cluster's traffic away (and so expects one failover and a failback).
    var movesTraffic: Bool {
        switch self {
        case .killCluster, .scaleToZero, .pauseCluster, .partition, .drain, .outlier, .pin: return true
        case .killAgent, .rollingRestart, .packetLoss, .restartGateway, .isolateGateway: return false
        // Each gateway moves the other side's share: judged per gateway in SplitDrill.swift, not by this.
        case .splitMesh: return false
        }
    }

    /// Whether the local mesh must run in a network namespace of its own (the fault is a packet filter).
    var needsNetworkNamespace: Bool { [.partition, .packetLoss, .isolateGateway, .pin, .splitMesh].contains(self) }

    /// Whether its fault cuts a gateway's requests on the local mesh, which tells them from the agents' probes by the
    /// gateway's uid (`LocalMesh.Layout.gatewaysUnderOwnUIDs`).
    var cutsRequests: Bool { [.partition, .pin, .splitMesh].contains(self) }

    /// Whether only the local mesh can play it (a mesh file has no command for it, or does not say the pin header).
    var localOnly: Bool { [.isolateGateway, .pin, .splitMesh].contains(self) }

    /// `all` runs every scenario in this order: the gentle ones first.
    static let all: [DrillScenario] = [.killAgent, .rollingRestart, .scaleToZero, .killCluster, .pauseCluster, .partition,
                                       .packetLoss, .restartGateway, .drain, .outlier, .isolateGateway, .pin, .splitMesh]

    /// The gateway settings the scenario needs on the local mesh (`failover.outlierDetection` for `outlier`: short
    /// times, so the drill ends within seconds).
    var localFailoverExtra: String {
        self == .outlier ? "outlierDetection: { consecutiveErrors: 5, baseEjection: 3s, clusterErrorRate: 50, window: 2s, minRequests: 10 }" : ""
    }

    /// The `proxy:` entries the scenario needs on the local mesh (the pin header for `pin`).
    var localProxyExtra: String { self == .pin ? "pinHeader: \(Self.pinHeader)" : "" }

    /// The header `pin` pins its requests with.
    static let pinHeader = "x-zone-cluster-pin"
}
