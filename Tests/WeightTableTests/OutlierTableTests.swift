import PropertyBased
import SeededRandom
import Testing
import Wire
@testable import WeightTable

/// How this gateway's outlier detection enters the table: ejected endpoints are unhealthy here, demoted clusters
/// degraded, and the table's rules (sums of 100, determinism, order independence) still hold.
@Suite("Outlier table")
struct OutlierTableTests {
    let now = ContinuousClock.now

    func build(_ mesh: Mesh, _ routes: [RouteSpec], outliers: OutlierView) -> RoutingTable {
        var inputs = mesh.inputs(routes)
        inputs.outliers = outliers
        return TableBuilder.build(inputs, state: TableState(), now: now).table
    }

    @Test func anEjectedEndpointLeavesTheRouteAndIsNamedInTheReason() {
        var mesh = Mesh()
        mesh.cluster("c1", healthy: 2)
        mesh.cluster("c2", healthy: 2)
        let ejected = OutlierEndpoint(cluster: "c1", host: "c1.pod1", port: 8080)
        let reason = "endpoint c1.pod1:8080 ejected by this gateway after 5 consecutive errors, for 30s (ejection 1)"
        let table = build(mesh, [demoRoute(["c1": 50, "c2": 50])], outliers: OutlierView(ejected: [ejected: reason]))
        let route = table.routes[0]
        #expect(!route.endpoints.contains { $0.cluster == "c1" && $0.host == "c1.pod1" })
        #expect(route.endpoints.contains { $0.cluster == "c1" && $0.host == "c1.pod2" })
        let c1 = table.cluster("c1")!
        #expect(c1.state == .degraded)
        #expect(c1.healthyEndpoints == 1 && c1.totalEndpoints == 2)
        #expect(c1.reason.contains(reason))
        // 1 of 2 healthy: share × min(1, 1.4 × 0.5) = 0.7 → 35 of 50; the rest goes to c2.
        #expect(table.effective() == ["c1": 41, "c2": 59])
        #expect(route.endpoints.reduce(0) { $0 + $1.weightPPM } == 1_000_000)
        // An ejection of another cluster's endpoint of the same address changes nothing here.
        let other = OutlierEndpoint(cluster: "c3", host: "c1.pod1", port: 8080)
        #expect(build(mesh, [demoRoute(["c1": 50, "c2": 50])], outliers: OutlierView(ejected: [other: "x"])).effective() == ["c1": 50, "c2": 50])
    }

    @Test func aDemotedClusterIsDegradedWithNoShareWhileAnotherCanServe() {
        var mesh = Mesh()
        mesh.cluster("c1", healthy: 2)
        mesh.cluster("c2", healthy: 2)
        let view = OutlierView(demoted: ["c2": .init(errorRate: 75, requests: 20, windowText: "10s")])
        let table = build(mesh, [demoRoute(["c1": 20, "c2": 80])], outliers: view)
        let c2 = table.cluster("c2")!
        #expect(c2.state == .degraded)
        #expect(c2.reason.contains("demoted by this gateway: 75% of its last 20 requests failed within 10s, no share while another cluster can serve"))
        #expect(table.effective() == ["c1": 100, "c2": 0])
        // While c1 cannot serve, the route still serves from c2 (standby), never from nowhere.
        var down = mesh
        down.setLive("c1", false)
        #expect(build(down, [demoRoute(["c1": 20, "c2": 80])], outliers: view).effective() == ["c1": 0, "c2": 100])
    }

    @Test func noOutliersIsTheTableWithoutDetection() {
        var mesh = Mesh()
        mesh.cluster("c1", healthy: 2)
        mesh.cluster("c2", healthy: 1, unhealthy: 1)
        let routes = [demoRoute(["c1": 20, "c2": 80])]
        let plain = TableBuilder.build(mesh.inputs(routes), state: TableState(), now: now).table
        #expect(build(mesh, routes, outliers: OutlierView()) == plain)
    }

    @Test func zeroWeightClustersThatCanServeAreStandbyForPinning() {
        var mesh = Mesh()
        mesh.cluster("c1", healthy: 2)
        mesh.cluster("c2", healthy: 1, unhealthy: 1)
        mesh.cluster("c3", healthy: 0, unhealthy: 1)
        let table = build(mesh, [demoRoute(["c1": 100, "c2": 0, "c3": 0])], outliers: OutlierView())
        #expect(table.effective() == ["c1": 100, "c2": 0, "c3": 0])
        #expect(table.routes[0].standby.map(\.address) == ["c2.pod1:8080"])
        #expect(TableJSON.decodeRoundTrip(table) == table)
    }

    /// Random meshes and random ejections and demotions: sums of 100, ejected endpoints never served, and the
    /// table does not depend on the order the digests or the outliers came in.
    @Test func tableRulesHoldWithOutliers() async {
        await propertyCheck(count: 200, input: Gen.uint64()) { seed in
            var rng = SplitMix64(seed: seed)
            let scenario = Scenario(seed: seed)
            var view = OutlierView()
            for digest in scenario.current.digests {
                for endpoint in digest.endpoints where Int.random(in: 0..<4, using: &rng) == 0 {
                    view.ejected[OutlierEndpoint(cluster: digest.origin.cluster, host: endpoint.host, port: endpoint.port)] = "ejected"
                }
                if Int.random(in: 0..<5, using: &rng) == 0 {
                    view.demoted[digest.origin.cluster] = .init(errorRate: Int.random(in: 0...100, using: &rng), requests: 20, windowText: "10s")
                }
            }
            var inputs = scenario.current
            inputs.outliers = view
            let table = scenario.build(inputs, at: now)
            var shuffled = inputs
            shuffled.digests.shuffle(using: &rng)
            #expect(scenario.build(shuffled, at: now) == table, "seed \(seed)")
            for route in table.routes where !route.failStatic && route.fallback == nil {
                if route.canServe {
                    #expect(route.clusters.reduce(0) { $0 + $1.effectiveWeight } == 100, "seed \(seed)")
                    #expect(route.endpoints.reduce(0) { $0 + $1.weightPPM } == 1_000_000, "seed \(seed)")
                }
                for endpoint in route.endpoints + route.standby {
                    #expect(view.ejected[OutlierEndpoint(cluster: endpoint.cluster, host: endpoint.host, port: endpoint.port)] == nil,
                            "seed \(seed): an ejected endpoint is served")
                }
            }
        }
    }
}

extension TableJSON {
    static func decodeRoundTrip(_ table: RoutingTable) -> RoutingTable? { try? decode(encode(table)) }
}
