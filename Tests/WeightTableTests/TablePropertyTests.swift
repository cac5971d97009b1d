import PropertyBased
import SeededRandom
import Testing
import Wire
@testable import WeightTable

/// A random but reproducible mesh: up to four clusters with random weights, agents that are live or dead,
/// endpoints in every state, stray digests, and a history built at an earlier moment.
struct Scenario {
    var routes: [RouteSpec]
    var previous: TableInputs
    var current: TableInputs
    var elapsed: Duration

    init(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let clusterCount = Int.random(in: 1...4, using: &rng)
        let clusters = (1...clusterCount).map { "c\($0)" }
        let services = ["ns/a", "ns/b"]
        routes = services.enumerated().map { index, service in
            let raw = clusters.map { _ in Int.random(in: 0...10, using: &rng) }
            var weights = Apportion.largestRemainder(raw, total: 100)
            if weights.allSatisfy({ $0 == 0 }) { weights[0] = 100 }
            var route = RouteSpec(uncheckedHost: "h\(index).example", path: "/", pathType: .prefix, service: service,
                                  weights: Dictionary(uniqueKeysWithValues: zip(clusters, weights)))
            route.traffic = Self.traffic(clusters, &rng).map(TrafficPolicy.Overrides.init)
            return route
        }
        func mesh(_ rng: inout SplitMix64) -> (members: [MemberView], digests: [HealthDigest]) {
            var members: [MemberView] = []
            var digests: [HealthDigest] = []
            for cluster in clusters {
                for agent in 0..<Int.random(in: 0...3, using: &rng) {
                    let name = "\(cluster)-\(agent)"
                    members.append(MemberView(name: name, cluster: cluster, standing: [.alive, .alive, .suspect, .gone][Int.random(in: 0..<4, using: &rng)]))
                    var endpoints: [EndpointHealth] = []
                    for service in services where Bool.random(using: &rng) {
                        for e in 0..<Int.random(in: 0...4, using: &rng) {
                            let state = [EndpointHealthState.healthy, .unhealthy, .unknown][Int.random(in: 0..<3, using: &rng)]
                            endpoints.append(EndpointHealth(service: service, host: "10.\(cluster.utf8.last ?? 0).0.\(e)", port: 80, state: state))
                        }
                    }
                    // Sometimes a member speaks for another cluster than its own; its digest must not count.
                    let claimed = Int.random(in: 0..<8, using: &rng) == 0 ? clusters[Int.random(in: 0..<clusters.count, using: &rng)] : cluster
                    let origin = MemberIdentity(name: name, cluster: claimed, generation: 1)
                    digests.append(HealthDigest(origin: origin, incarnation: 1, version: UInt64.random(in: 1...5, using: &rng),
                                                issuedAtMillis: 0, endpoints: endpoints))
                }
            }
            return (members, digests)
        }
        let before = mesh(&rng)
        let after = mesh(&rng)
        previous = TableInputs(routes: routes, members: before.members, digests: before.digests, isolated: false, wallClockMillis: 1_000)
        current = TableInputs(routes: routes, members: after.members, digests: after.digests, isolated: false, wallClockMillis: 2_000)
        elapsed = .milliseconds(Int64.random(in: 0...30_000, using: &rng))
    }

    /// Half the time none; else priority groups over a shuffle of the clusters (some left out), a minimum of
    /// healthy endpoints and a rule for when none can serve, all random.
    static func traffic(_ clusters: [String], _ rng: inout SplitMix64) -> TrafficPolicy? {
        guard Bool.random(using: &rng) else { return nil }
        var order = clusters.shuffled(using: &rng)
        if Bool.random(using: &rng) { order.removeLast() }
        var groups: [[String]] = []
        for cluster in order {
            if groups.isEmpty || Bool.random(using: &rng) { groups.append([cluster]) } else { groups[groups.count - 1].append(cluster) }
        }
        let minimum: TrafficPolicy.MinHealthy? = [nil, .count(2), .percent(50)][Int.random(in: 0..<3, using: &rng)]
        let rule = TrafficPolicy.NoneHealthy.allCases[Int.random(in: 0..<3, using: &rng)]
        return TrafficPolicy(priority: groups, minHealthy: minimum, whenNoneHealthy: rule)
    }

    /// Builds the previous table, then the current one `elapsed` later.
    func build(_ inputs: TableInputs? = nil, at start: ContinuousClock.Instant) -> RoutingTable {
        let state = TableBuilder.build(previous, state: TableState(), now: start).state
        return TableBuilder.build(inputs ?? current, state: state, now: start.advanced(by: elapsed)).table
    }

    /// Whether live members of `cluster` report enough healthy endpoints of `route`'s service, in digests that
    /// count, for the cluster to serve under the route's minimum.
    func vouched(_ cluster: String, route: RouteSpec) -> Bool {
        let live = Set(current.members.filter { $0.standing == .alive && $0.cluster == cluster }.map(\.name))
        let newest = Evidence.newestPerOrigin(current.digests)
        var healthy = Set<String>()
        var total = Set<String>()
        for digest in newest.values where live.contains(digest.origin.name) && digest.origin.cluster == cluster {
            for e in digest.endpoints where e.service == route.service {
                total.insert("\(e.host):\(e.port)")
                if e.state == .healthy { healthy.insert("\(e.host):\(e.port)") }
            }
        }
        return !healthy.isEmpty && healthy.count >= (route.traffic?.minHealthy?.required(total: total.count) ?? 1)
    }
}

@Suite("Table properties")
struct TablePropertyTests {
    let start = ContinuousClock.now

    @Test func effectiveWeightsSumTo100WheneverAnyClusterIsLive() async {
        await propertyCheck(count: 300, input: Gen.uint64()) { seed in
            let scenario = Scenario(seed: seed)
            let table = scenario.build(at: start)
            for route in table.routes {
                let anyLive = route.spec.clusters.contains { scenario.vouched($0, route: route.spec) }
                let sum = route.clusters.reduce(0) { $0 + $1.effectiveWeight }
                if anyLive {
                    #expect(sum == 100, "route \(route.spec.id) of seed \(seed)")
                    #expect(!route.failStatic)
                } else {
                    switch route.spec.traffic?.whenNoneHealthy ?? .lastGood {
                    case .lastGood: #expect(sum == 0 || route.failStatic)
                    case .none: #expect(sum == 0 && route.endpoints.isEmpty && !route.failStatic)
                    case .all: #expect(sum == 0 || sum == 100)
                    }
                }
                #expect(route.endpoints.reduce(0) { $0 + $1.weightPPM } == (route.canServe ? 1_000_000 : 0))
            }
        }
    }

    @Test func digestArrivalOrderNeverChangesTheTable() async {
        await propertyCheck(count: 200, input: Gen.uint64(), Gen.uint64()) { seed, shuffleSeed in
            let scenario = Scenario(seed: seed)
            var rng = SplitMix64(seed: shuffleSeed)
            var shuffled = scenario.current
            shuffled.digests.shuffle(using: &rng)
            shuffled.members.shuffle(using: &rng)
            let one = scenario.build(at: start)
            let two = scenario.build(shuffled, at: start)
            #expect(one == two)
            #expect(one.hash == two.hash)
        }
    }

    @Test func applyingTheSameDigestTwiceChangesNothing() async {
        await propertyCheck(count: 200, input: Gen.uint64(), Gen.int(in: 0...100)) { seed, pick in
            let scenario = Scenario(seed: seed)
            guard !scenario.current.digests.isEmpty else { return }
            var doubled = scenario.current
            doubled.digests.append(doubled.digests[pick % doubled.digests.count])
            #expect(scenario.build(at: start) == scenario.build(doubled, at: start))
            // And rebuilding at the same moment from the state it produced is a fixed point.
            let state = TableBuilder.build(scenario.current, state: TableState(), now: start).state
            let again = TableBuilder.build(scenario.current, state: state, now: start)
            #expect(again.table.routes == state.lastTable?.routes)
            #expect(again.table.version == state.version)
        }
    }

    @Test func noClusterGetsWeightWithoutALiveAgentVouchingForIt() async {
        await propertyCheck(count: 300, input: Gen.uint64()) { seed in
            let scenario = Scenario(seed: seed)
            let table = scenario.build(at: start)
            // Failing open (`whenNoneHealthy: all`) is the one case where unvouched endpoints are served, by choice.
            for route in table.routes where !route.failStatic && route.fallback != .all {
                for cluster in route.clusters where cluster.effectiveWeight > 0 {
                    #expect(scenario.vouched(cluster.cluster, route: route.spec), "\(cluster.cluster) on \(route.spec.id), seed \(seed)")
                }
                for endpoint in route.endpoints {
                    #expect(scenario.vouched(endpoint.cluster, route: route.spec))
                }
            }
        }
    }

    @Test func pickerIsExactOverEveryCycle() async {
        await propertyCheck(count: 100, input: Gen.uint64()) { seed in
            let table = Scenario(seed: seed).build(at: start)
            let picker = EndpointPicker(table: table)
            for (index, route) in table.routes.enumerated() where route.canServe {
                var counts: [String: Int] = [:]
                for _ in 0..<100 { if let e = picker.pick(route: index) { counts[e.cluster, default: 0] += 1 } }
                let expected = Dictionary(uniqueKeysWithValues: route.clusters.filter { $0.effectiveWeight > 0 }.map { ($0.cluster, $0.effectiveWeight) })
                #expect(counts == expected)
            }
        }
    }
}
