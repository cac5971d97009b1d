import Testing
import Wire
@testable import WeightTable

/// Ordered failover, minimum healthy and the rule for when no cluster can serve (issue 16, items 1–3).
@Suite("Traffic policy")
struct TrafficPolicyTests {
    let t0 = ContinuousClock.now

    func route(_ weights: [String: Int], _ traffic: TrafficPolicy?) -> RouteSpec {
        var route = demoRoute(weights)
        route.traffic = traffic.map(TrafficPolicy.Overrides.init)
        return route
    }

    func mesh(_ healthy: [String: (healthy: Int, total: Int)], dead: Set<String> = []) -> Mesh {
        var mesh = Mesh()
        for cluster in healthy.keys.sorted() {
            let counts = healthy[cluster]!
            mesh.cluster(cluster, healthy: counts.healthy, unhealthy: counts.total - counts.healthy, live: !dead.contains(cluster))
        }
        return mesh
    }

    func build(_ mesh: Mesh, _ route: RouteSpec, state: TableState = TableState(), at seconds: Int = 0,
               policy: TablePolicy = TablePolicy()) -> (table: RoutingTable, state: TableState) {
        TableBuilder.build(mesh.inputs([route]), state: state, policy: policy, now: t0.advanced(by: .seconds(seconds)))
    }

    let three = ["c1": (healthy: 2, total: 2), "c2": (healthy: 2, total: 2), "c3": (healthy: 2, total: 2)]
    let ordered = TrafficPolicy(priority: [["c1", "c2"], ["c3"]])

    @Test func aFailedClustersShareStaysInItsGroupFirst() {
        let r = route(["c1": 40, "c2": 40, "c3": 20], ordered)
        #expect(build(mesh(three), r).table.effective() == ["c1": 40, "c2": 40, "c3": 20])
        #expect(build(mesh(three, dead: ["c1"]), r).table.effective() == ["c1": 0, "c2": 80, "c3": 20])
        #expect(build(mesh(three, dead: ["c1", "c2"]), r).table.effective() == ["c1": 0, "c2": 0, "c3": 100])
        // The last group's share has nowhere further to go: it returns up the order.
        #expect(build(mesh(three, dead: ["c3"]), r).table.effective() == ["c1": 50, "c2": 50, "c3": 0])
        // Without groups the share spreads in proportion, as before.
        #expect(build(mesh(three, dead: ["c1"]), route(["c1": 40, "c2": 40, "c3": 20], nil)).table.effective()
            == ["c1": 0, "c2": 67, "c3": 33])
    }

    @Test func aStandbyGroupConfiguredAtZeroTakesOverOnlyWhenThePrimaryFails() {
        let r = route(["c1": 100, "c2": 0], TrafficPolicy(priority: [["c1"], ["c2"]]))
        let both = ["c1": (healthy: 2, total: 2), "c2": (healthy: 2, total: 2)]
        #expect(build(mesh(both), r).table.effective() == ["c1": 100, "c2": 0])
        #expect(build(mesh(both, dead: ["c1"]), r).table.effective() == ["c1": 0, "c2": 100])
    }

    @Test func aGroupShortOfCapacitySpillsOnlyWhatItCannotCarry() {
        // c1 and c2 at 1 of 4 endpoints: capacity 1.4 × 0.25 = 0.35 each, so their group keeps 35% of its 80.
        let short = ["c1": (healthy: 1, total: 4), "c2": (healthy: 1, total: 4), "c3": (healthy: 2, total: 2)]
        let r = route(["c1": 40, "c2": 40, "c3": 20], ordered)
        #expect(build(mesh(short), r).table.effective() == ["c1": 14, "c2": 14, "c3": 72])
        // One full cluster in the group carries its sibling's share: nothing spills.
        let one = ["c1": (healthy: 1, total: 4), "c2": (healthy: 2, total: 2), "c3": (healthy: 2, total: 2)]
        let table = build(mesh(one), r).table
        #expect(table.effective()["c3"] == 20)
        #expect(table.effective().values.reduce(0, +) == 100)
    }

    @Test func aHeldDownGroupLeavesItsShareToTheNextUntilItRamps() {
        let r = route(["c1": 50, "c2": 50], TrafficPolicy(priority: [["c1"], ["c2"]]))
        let both = ["c1": (healthy: 2, total: 2), "c2": (healthy: 2, total: 2)]
        var state = build(mesh(both), r).state
        state = build(mesh(both, dead: ["c1"]), r, state: state, at: 1).state
        let back = build(mesh(both), r, state: state, at: 2)
        #expect(back.table.effective() == ["c1": 0, "c2": 100], "held down: the next group serves")
        #expect(build(mesh(both), r, state: back.state, at: 22).table.effective() == ["c1": 50, "c2": 50])
    }

    @Test func belowMinHealthyAClusterIsFailedNotDegraded() {
        let r = route(["c1": 20, "c2": 80], TrafficPolicy(minHealthy: .count(2)))
        let low = ["c1": (healthy: 2, total: 3), "c2": (healthy: 1, total: 3)]
        let table = build(mesh(low), r).table
        #expect(table.effective() == ["c1": 100, "c2": 0])
        #expect(table.cluster("c2")?.state == .failed)
        #expect(table.cluster("c2")?.reason == "1 of 3 endpoints healthy, below minHealthy 2 (2)")
        let percent = route(["c1": 20, "c2": 80], TrafficPolicy(minHealthy: .percent(50)))
        #expect(build(mesh(low), percent).table.effective() == ["c1": 100, "c2": 0], "50% of 3 rounds up to 2")
        #expect(TrafficPolicy.MinHealthy.percent(50).required(total: 4) == 2)
        #expect(TrafficPolicy.MinHealthy.percent(0).required(total: 4) == 1, "never below one endpoint")
    }

    @Test func aReturningClusterCountsOnlyOnceItReachesTheMinimum() {
        let r = route(["c1": 20, "c2": 80], TrafficPolicy(minHealthy: .count(2)))
        var state = build(mesh(["c1": (2, 2), "c2": (2, 2)]), r).state
        state = build(mesh(["c1": (2, 2), "c2": (0, 2)]), r, state: state, at: 1).state
        // The first pod back does not take c2's whole share.
        let first = build(mesh(["c1": (2, 2), "c2": (1, 2)]), r, state: state, at: 2)
        #expect(first.table.effective() == ["c1": 100, "c2": 0])
        let second = build(mesh(["c1": (2, 2), "c2": (2, 2)]), r, state: first.state, at: 3)
        #expect(second.table.cluster("c2")?.state == .recovering, "at the minimum: the usual hold-down and slow start")
    }

    @Test func whenNoneHealthyChoosesBetweenLastGoodEveryEndpointAndNothing() throws {
        let both = ["c1": (healthy: 2, total: 2), "c2": (healthy: 2, total: 2)]
        let down = ["c1": (healthy: 0, total: 2), "c2": (healthy: 0, total: 3)]
        for rule in TrafficPolicy.NoneHealthy.allCases {
            let r = route(["c1": 20, "c2": 80], TrafficPolicy(whenNoneHealthy: rule))
            let state = build(mesh(both), r).state
            let table = build(mesh(down), r, state: state, at: 1).table
            let entry = table.routes[0]
            #expect(entry.fallback == rule)
            switch rule {
            case .lastGood:
                #expect(entry.failStatic && table.effective() == ["c1": 20, "c2": 80])
                #expect(entry.endpoints.map(\.address) == ["c1.pod1:8080", "c1.pod2:8080", "c2.pod1:8080", "c2.pod2:8080"])
            case .all:
                #expect(!entry.failStatic && table.effective() == ["c1": 20, "c2": 80])
                #expect(entry.endpoints.count == 5, "every known endpoint, unhealthy ones included")
                #expect(entry.endpoints.reduce(0) { $0 + $1.weightPPM } == 1_000_000)
                #expect(entry.clusters[0].reason.contains("fail open"))
            case .none:
                #expect(!entry.canServe && entry.endpoints.isEmpty && table.effective() == ["c1": 0, "c2": 0])
                #expect(entry.clusters[0].reason.contains("fail closed"))
            }
            #expect(TableText.render(table).contains(["[fail static]", "[fail open: every known endpoint]", "[fail closed: 503]"][TrafficPolicy.NoneHealthy.allCases.firstIndex(of: rule)!]))
            #expect(try TableJSON.decode(TableJSON.encode(table)).routes[0].fallback == rule)
        }
    }

    @Test func groupsIgnoreUnknownNamesAndCollectTheUnnamed() {
        let policy = TrafficPolicy(priority: [["c3", "zz"], ["c1"]])
        #expect(policy.groups(of: ["c1", "c2", "c3"]) == [[2], [0], [1]])
        #expect(TrafficPolicy().groups(of: ["c1", "c2"]) == [[0, 1]])
        #expect(TrafficPolicy(priority: [["c1"], ["c1", "c2"]]).groups(of: ["c1", "c2"]) == [[0], [1]], "a name counts once")
    }
}

extension TrafficPolicyTests {
    @Test func aStandbyGroupAheadOfAFailedOneTakesTheRoute() {
        // Found by the properties: c1 configured at 0 in the first group, c2 (100) failed in the unnamed last group.
        let r = route(["c1": 0, "c2": 100], TrafficPolicy(priority: [["c1"]]))
        #expect(build(mesh(["c1": (2, 2), "c2": (0, 2)]), r).table.effective() == ["c1": 100, "c2": 0])
    }
}
