import Gossip
import WeightTable
import Wire

@testable import ZoneAgent

/// A gateway's life played through the real table builder in virtual time, for the status page and the
/// routing-change metrics: `clusters` clusters of one agent each, `routes` routes, a request stream that follows
/// the weights one sample late, and faults at chosen moments.
struct StatusScenario {
    let clusterNames: [String]
    let routes: [RouteSpec]
    let policy = TablePolicy(holdDown: .seconds(10), slowStart: .seconds(10))
    /// The virtual start: wall clock and monotonic clock move together from here.
    let startMillis: UInt64 = 1_764_039_600_000
    let startInstant = ContinuousClock.now

    private(set) var state = TableState()
    private(set) var table = RoutingTable.empty
    private(set) var dead: Set<String> = []
    let history = ShareHistory()
    let events = RoutingEvents()
    private(set) var counts: [String: [String: Int]] = [:]
    private(set) var classified: [(change: WeightChange, kind: RoutingChangeKind)] = []
    private(set) var nowSeconds = 0

    /// `routes` routes: every fifth over all clusters in equal shares, the others over three clusters at 20/30/50;
    /// five routes share each service, as paths of one application do.
    init(clusters: Int, routes: Int) {
        clusterNames = (1...clusters).map { String(format: "c%02d", $0) }
        var specs: [RouteSpec] = []
        for r in 0..<routes {
            let weights: [String: Int]
            if r % 5 == 0 || clusters < 3 {
                let each = 100 / clusters
                weights = Dictionary(uniqueKeysWithValues: clusterNames.enumerated().map { ($1, each + ($0 < 100 - each * clusters ? 1 : 0)) })
            } else {
                let picked = [r % clusters, (r + 7) % clusters, (r + 13) % clusters]
                weights = [clusterNames[picked[0]]: 20, clusterNames[picked[1]]: 30, clusterNames[picked[2]]: 50]
            }
            specs.append(RouteSpec(uncheckedHost: "shop.example.com", path: "/api/v1/service-\(r / 5)/part-\(r)", pathType: .prefix,
                                   service: "shop/service-\(r / 5)", weights: weights))
        }
        self.routes = specs
    }

    /// The seed's single route at 20/80 over c1 and c2.
    init(seed: ()) {
        clusterNames = ["c1", "c2"]
        routes = [RouteSpec(uncheckedHost: "alb.ingress.alibaba.com", path: "/svc1", pathType: .prefix, service: "gateway-demo/service1",
                            weights: ["c1": 20, "c2": 80])]
    }

    var services: [String] { Array(Set(routes.map(\.service))).sorted() }

    func identity(_ cluster: String) -> MemberIdentity {
        MemberIdentity(name: "\(cluster)-a", cluster: cluster, zone: "zone-\(cluster)", generation: 7)
    }

    /// Each cluster's agent's digest: two healthy endpoints of every service.
    var digests: [HealthDigest] {
        clusterNames.enumerated().map { index, cluster in
            let endpoints = services.enumerated().flatMap { s, service in
                (1...2).map { EndpointHealth(service: service, host: "10.\(index + 1).\(s).\($0)", port: 8080, state: .healthy) }
            }
            return HealthDigest(origin: identity(cluster), incarnation: 1, version: 1, issuedAtMillis: startMillis, endpoints: endpoints)
        }
    }

    var members: [MemberSnapshot] {
        clusterNames.enumerated().map { index, cluster in
            MemberSnapshot(identity: identity(cluster), address: PeerAddress("127.0.\(index + 1).1:7946")!,
                           state: dead.contains(cluster) ? .dead : .alive, incarnation: 1)
        } + [MemberSnapshot(identity: MemberIdentity(name: "gateway-1", cluster: "", zone: "zone-a", generation: 3),
                            address: PeerAddress("127.0.99.1:7946")!, state: .alive, incarnation: 1)]
    }

    var nowMillis: UInt64 { startMillis + UInt64(nowSeconds) * 1000 }

    mutating func kill(_ cluster: String) { dead.insert(cluster) }
    mutating func revive(_ cluster: String) { dead.remove(cluster) }

    /// Moves virtual time on by `seconds`, rebuilding every second (as the gateway's timers do) and sampling the
    /// shares every two.
    mutating func run(seconds: Int) {
        for _ in 0..<seconds {
            // Requests of the last second went by the table in force during it.
            for route in table.routes {
                for c in route.clusters { counts[route.spec.id, default: [:]][c.cluster, default: 0] += c.effectiveWeight }
            }
            nowSeconds += 1
            rebuild()
            if nowSeconds % 2 == 0 { history.sample(table, counts: counts, atMillis: nowMillis) }
        }
    }

    mutating func rebuild() {
        let views = clusterNames.map { MemberView(identity($0), standing: dead.contains($0) ? .gone : .alive) }
        let inputs = TableInputs(routes: routes, members: views, digests: digests, wallClockMillis: nowMillis)
        let built = TableBuilder.build(inputs, state: state, policy: policy, now: startInstant + .seconds(nowSeconds))
        state = built.state
        table = built.table
        classified += events.record(state.latestChanges, in: table)
    }

    func page() -> StatusPage.Inputs {
        StatusPage.Inputs(gateway: "gateway-1", version: ZoneAgentVersion.current, startedAtMillis: startMillis, nowMillis: nowMillis,
                          members: members, digests: digests, table: table, history: history.all(), events: events.entries)
    }
}
