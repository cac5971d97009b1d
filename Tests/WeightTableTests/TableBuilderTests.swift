import Testing
import Wire
@testable import WeightTable

@Suite("Table rules")
struct TableBuilderTests {
    let t0 = ContinuousClock.now
    let route = demoRoute(["c1": 20, "c2": 80])

    func at(_ seconds: Double) -> ContinuousClock.Instant { t0.advanced(by: .milliseconds(Int64(seconds * 1000))) }

    func healthyMesh(_ clusters: [String] = ["c1", "c2"]) -> Mesh {
        var mesh = Mesh()
        for cluster in clusters { mesh.cluster(cluster, healthy: 2) }
        return mesh
    }

    @Test func bothHealthyGivesTheConfiguredWeights() {
        let (table, _) = TableBuilder.build(healthyMesh().inputs([route]), state: TableState(), now: t0)
        #expect(table.effective() == ["c1": 20, "c2": 80])
        #expect(table.routes[0].clusters.map(\.state) == [.active, .active])
        #expect(table.cluster("c1")?.reason == "2 of 2 endpoints healthy")
        #expect(table.routes[0].endpoints.map(\.weightPPM) == [100_000, 100_000, 400_000, 400_000])
        #expect(table.routes[0].endpoints.map(\.address) == ["c1.pod1:8080", "c1.pod2:8080", "c2.pod1:8080", "c2.pod2:8080"])
        #expect(!table.isolated)
        #expect(table.version == 1)
        #expect(table.changes.isEmpty)
    }

    @Test func c2GoneGives100To0() {
        var mesh = healthyMesh()
        let first = TableBuilder.build(mesh.inputs([route]), state: TableState(), now: t0)
        mesh.setLive("c2", false)
        let (table, state) = TableBuilder.build(mesh.inputs([route], millis: 1_795_575_601_000), state: first.state, now: at(1))
        #expect(table.effective() == ["c1": 100, "c2": 0])
        #expect(table.cluster("c2")?.state == .failed)
        #expect(table.cluster("c2")?.reason == "no live agent vouches for c2")
        #expect(table.cluster("c1")?.reason == "2 of 2 endpoints healthy; takes the share of c2")
        #expect(table.routes[0].endpoints.map(\.weightPPM) == [500_000, 500_000])
        #expect(table.changes == [
            WeightChange(atMillis: 1_795_575_601_000, route: "alb.ingress.alibaba.com/svc1", cluster: "c1", from: 20, to: 100,
                         reason: "2 of 2 endpoints healthy; takes the share of c2"),
            WeightChange(atMillis: 1_795_575_601_000, route: "alb.ingress.alibaba.com/svc1", cluster: "c2", from: 80, to: 0,
                         reason: "no live agent vouches for c2"),
        ])
        #expect(table.version == 2)
        #expect(state.changes == table.changes)
        #expect(state.latestChanges == table.changes)
        let quiet = TableBuilder.build(mesh.inputs([route]), state: state, now: at(2)).state
        #expect(quiet.latestChanges.isEmpty, "only the build that made a change reports it")
        #expect(quiet.changes.count == 2)
    }

    @Test func digestStoreKeyedByOriginGivesTheSameTable() {
        let mesh = healthyMesh()
        let store = Dictionary(uniqueKeysWithValues: mesh.digests.map { ($0.origin.name, $0) })
        let fromStore = TableInputs(routes: [route], members: mesh.members, digestStore: store, wallClockMillis: 5)
        let one = TableBuilder.build(fromStore, state: TableState(), now: t0).table
        let two = TableBuilder.build(mesh.inputs([route], millis: 5), state: TableState(), now: t0).table
        #expect(one == two)
    }

    @Test func aDigestFromAnEarlierGenerationDoesNotCount() {
        var mesh = healthyMesh()
        // c2's agent restarted: the view knows generation 2, the store still holds generation 1's digest.
        if let i = mesh.members.firstIndex(where: { $0.cluster == "c2" }) {
            mesh.members[i] = MemberView(MemberIdentity(name: mesh.members[i].name, cluster: "c2", generation: 2), standing: .alive)
        }
        let (table, _) = TableBuilder.build(mesh.inputs([route]), state: TableState(), now: t0)
        #expect(table.effective() == ["c1": 100, "c2": 0])
    }

    @Test func twentyThirtyFiftyWithTheFiftyGoneGives40_60_0() {
        var mesh = healthyMesh(["c1", "c2"])
        mesh.cluster("c3", healthy: 3, live: false)
        let (table, _) = TableBuilder.build(mesh.inputs([demoRoute(["c1": 20, "c2": 30, "c3": 50])]), state: TableState(), now: t0)
        #expect(table.effective() == ["c1": 40, "c2": 60, "c3": 0])
    }

    @Test func noHealthyEndpointFails() {
        var mesh = Mesh()
        mesh.cluster("c1", healthy: 1)
        mesh.cluster("c2", healthy: 0, unhealthy: 3)
        let (table, _) = TableBuilder.build(mesh.inputs([route]), state: TableState(), now: t0)
        #expect(table.effective() == ["c1": 100, "c2": 0])
        #expect(table.cluster("c2")?.state == .failed)
        #expect(table.cluster("c2")?.reason == "no healthy endpoint of gateway-demo/service1 in c2 (0 of 3)")
        #expect(table.cluster("c2")?.totalEndpoints == 3)
    }

    @Test func allGoneKeepsTheLastGoodTable() {
        var mesh = healthyMesh()
        let first = TableBuilder.build(mesh.inputs([route]), state: TableState(), now: t0)
        mesh.setLive("c1", false)
        mesh.setLive("c2", false)
        let (table, _) = TableBuilder.build(mesh.inputs([route]), state: first.state, now: at(1))
        #expect(table.isolated)
        #expect(table.routes[0].failStatic)
        #expect(table.effective() == ["c1": 20, "c2": 80])
        #expect(table.routes[0].endpoints == first.table.routes[0].endpoints)
        #expect(table.routes[0].clusters.allSatisfy { $0.state == .failed })
        #expect(table.cluster("c2")?.reason == "no live agent vouches for c2; fail static (no cluster can serve): keeping the last good weight 80")
        #expect(table.changes.isEmpty, "fail static moves no traffic")
        let picker = EndpointPicker(table: table)
        #expect(picker.pick(route: 0) != nil, "requests still go somewhere instead of a 503")
    }

    @Test func allGoneFromTheStartServesNothing() {
        var mesh = healthyMesh()
        mesh.setLive("c1", false)
        mesh.setLive("c2", false)
        let (table, _) = TableBuilder.build(mesh.inputs([route]), state: TableState(), now: t0)
        #expect(table.isolated)
        #expect(table.effective() == ["c1": 0, "c2": 0])
        #expect(EndpointPicker(table: table).pick(route: 0) == nil)
    }

    @Test func isolatedGatewayKeepsTheLastGoodTable() {
        var mesh = healthyMesh()
        let first = TableBuilder.build(mesh.inputs([route]), state: TableState(), now: t0)
        mesh.setLive("c1", false)
        let (table, state) = TableBuilder.build(mesh.inputs([route], isolated: true), state: first.state, now: at(1))
        #expect(table.isolated)
        #expect(table.effective() == ["c1": 20, "c2": 80])
        #expect(table.routes[0].endpoints == first.table.routes[0].endpoints)
        #expect(table.hash == first.table.hash)
        #expect(table.cluster("c1")?.state == .active, "an isolated gateway learns nothing new about the clusters")
        // Contact restored with everything healthy: no failback damping, because nothing failed over.
        mesh.setLive("c1", true)
        let after = TableBuilder.build(mesh.inputs([route]), state: state, now: at(2))
        #expect(after.table.effective() == ["c1": 20, "c2": 80])
        #expect(!after.table.isolated)
    }

    @Test func halfHealthyClusterShrinksByOverprovisioning() {
        var mesh = Mesh()
        mesh.cluster("c1", healthy: 2)
        mesh.cluster("c2", healthy: 1, unhealthy: 1)
        let (table, _) = TableBuilder.build(mesh.inputs([demoRoute(["c1": 50, "c2": 50])]), state: TableState(), now: t0)
        // 50 × min(1, 1.4 × 0.5) = 35 against 50: 58.8 / 41.2.
        #expect(table.effective() == ["c1": 59, "c2": 41])
        #expect(table.cluster("c2")?.state == .degraded)
        #expect(table.cluster("c2")?.reason == "partial capacity: 1 of 2 endpoints healthy, share × min(1, 1.4 × 0.50) = 0.70")
        let seed = TableBuilder.build(mesh.inputs([route]), state: TableState(), now: t0).table
        #expect(seed.effective() == ["c1": 26, "c2": 74])  // 20 against 80 × 0.7 = 56
    }

    @Test func mildLossStaysWithinTheOverprovisioningFactor() {
        var mesh = Mesh()
        mesh.cluster("c1", healthy: 2)
        mesh.cluster("c2", healthy: 3, unhealthy: 1)
        let (table, _) = TableBuilder.build(mesh.inputs([route]), state: TableState(), now: t0)
        #expect(table.effective() == ["c1": 20, "c2": 80])
        #expect(table.cluster("c2")?.state == .degraded)
    }

    @Test func zeroHealthyPolicyKeepsTheFullShare() {
        var mesh = Mesh()
        mesh.cluster("c1", healthy: 2)
        mesh.cluster("c2", healthy: 1, unhealthy: 1)
        let (table, _) = TableBuilder.build(mesh.inputs([route]), state: TableState(), policy: TablePolicy(failover: .zeroHealthy), now: t0)
        #expect(table.effective() == ["c1": 20, "c2": 80])
        #expect(table.cluster("c2")?.state == .degraded)
    }

    @Test func failbackWaitsForTheHoldDownThenRamps() {
        var mesh = healthyMesh()
        var state = TableBuilder.build(mesh.inputs([route]), state: TableState(), now: t0).state
        mesh.setLive("c2", false)
        var table: RoutingTable
        (table, state) = TableBuilder.build(mesh.inputs([route]), state: state, now: at(1))
        #expect(table.effective() == ["c1": 100, "c2": 0])

        mesh.setLive("c2", true)
        (table, state) = TableBuilder.build(mesh.inputs([route]), state: state, now: at(2))
        #expect(table.effective() == ["c1": 100, "c2": 0])
        #expect(table.cluster("c2")?.state == .recovering)
        #expect(table.cluster("c2")?.reason == "recovering: live again, held down for 10s before taking traffic")
        #expect(state.nextRebuildAt == at(12))

        (table, state) = TableBuilder.build(mesh.inputs([route]), state: state, now: at(11.9))
        #expect(table.effective() == ["c1": 100, "c2": 0], "still held down")

        (table, state) = TableBuilder.build(mesh.inputs([route]), state: state, now: at(14.5))
        // A quarter into the slow start: 20 against 80 × 0.25 = 20 → 50/50.
        #expect(table.effective() == ["c1": 50, "c2": 50])
        #expect(table.cluster("c2")?.state == .recovering)
        #expect(table.cluster("c2")?.reason == "recovering: slow start at 25% of its share")

        (table, state) = TableBuilder.build(mesh.inputs([route]), state: state, now: at(17))
        #expect(table.effective() == ["c1": 33, "c2": 67])  // 20 against 80 × 0.5 = 40

        (table, state) = TableBuilder.build(mesh.inputs([route]), state: state, now: at(22))
        #expect(table.effective() == ["c1": 20, "c2": 80])
        #expect(table.cluster("c2")?.state == .active)
        #expect(state.nextRebuildAt == nil)
        #expect(table.changes.filter { $0.cluster == "c2" }.map(\.to) == [0, 50, 67, 80])
    }

    @Test func flappingClusterMovesTrafficOnce() {
        var mesh = healthyMesh()
        var state = TableBuilder.build(mesh.inputs([route]), state: TableState(), now: t0).state
        var table = RoutingTable.empty
        // Down for a second, up for a second, for a minute; the gateway rebuilds four times a second.
        for step in 1...240 {
            let second = step / 4
            mesh.setLive("c2", second % 2 == 0)
            (table, state) = TableBuilder.build(mesh.inputs([route]), state: state, now: at(Double(step) / 4))
        }
        #expect(table.changes.filter { $0.cluster == "c2" }.count == 1)
        #expect(table.changes.filter { $0.cluster == "c1" }.count == 1)
        #expect(table.changes.map(\.to) == [100, 0])
    }

    @Test func firstSightingIsNotDamped() {
        var mesh = Mesh()
        mesh.cluster("c1", healthy: 2)
        var state = TableBuilder.build(mesh.inputs([route]), state: TableState(), now: t0).state
        mesh.cluster("c2", healthy: 2)  // its first digest arrives a moment after the gateway started
        let table: RoutingTable
        (table, state) = TableBuilder.build(mesh.inputs([route]), state: state, now: at(0.5))
        #expect(table.effective() == ["c1": 20, "c2": 80])
    }

    @Test func heldDownClusterServesWhenNoOtherCan() {
        var mesh = healthyMesh()
        var state = TableBuilder.build(mesh.inputs([route]), state: TableState(), now: t0).state
        mesh.setLive("c1", false)
        mesh.setLive("c2", false)
        state = TableBuilder.build(mesh.inputs([route]), state: state, now: at(1)).state
        mesh.setLive("c1", true)
        let (table, _) = TableBuilder.build(mesh.inputs([route]), state: state, now: at(2))
        #expect(table.effective() == ["c1": 100, "c2": 0])
        #expect(!table.isolated)
        #expect(table.cluster("c1")?.state == .recovering)
    }

    @Test func endpointHealthIsTheUnionOfTheClustersAgents() {
        var mesh = Mesh()
        // Each agent probes its own node's endpoints and reports the others as unknown.
        mesh.agent("c1-a", cluster: "c1", endpoints: [("10.0.0.1", 80, .healthy), ("10.0.0.2", 80, .unknown), ("10.0.0.3", 80, .unknown)])
        mesh.agent("c1-b", cluster: "c1", endpoints: [("10.0.0.1", 80, .unknown), ("10.0.0.2", 80, .healthy)])
        mesh.cluster("c2", healthy: 1)
        let (table, _) = TableBuilder.build(mesh.inputs([route]), state: TableState(), now: t0)
        #expect(table.cluster("c1")?.healthyEndpoints == 2)
        #expect(table.cluster("c1")?.totalEndpoints == 3)
    }

    @Test func onlyLiveMembersOfTheRightClusterVouch() {
        var mesh = Mesh()
        mesh.cluster("c1", healthy: 2)
        mesh.cluster("c2", healthy: 2, live: false)
        // A live c1 member's digest claiming c2 does not speak for c2.
        mesh.agent("c1-b", cluster: "c1", endpoints: [("10.9.9.9", 80, .healthy)])
        mesh.digests[mesh.digests.count - 1].origin.cluster = "c2"
        // A digest from a member the view does not know does not count either.
        mesh.digests.append(HealthDigest(origin: MemberIdentity(name: "stranger", cluster: "c2", generation: 1), incarnation: 1,
                                         version: 1, issuedAtMillis: 0,
                                         endpoints: [EndpointHealth(service: service1, host: "10.8.8.8", port: 80, state: .healthy)]))
        let (table, _) = TableBuilder.build(mesh.inputs([route]), state: TableState(), now: t0)
        #expect(table.effective() == ["c1": 100, "c2": 0])
        #expect(table.cluster("c2")?.reason == "no live agent vouches for c2")
    }

    @Test func agentsOfOtherServicesDoNotVouch() {
        var mesh = Mesh()
        mesh.cluster("c1", healthy: 2)
        mesh.cluster("c2", healthy: 2, service: "gateway-demo/other")
        let (table, _) = TableBuilder.build(mesh.inputs([route]), state: TableState(), now: t0)
        #expect(table.effective() == ["c1": 100, "c2": 0])
    }

    @Test func newestDigestPerOriginWins() {
        var mesh = healthyMesh()
        var stale = mesh.digests[1]
        stale = HealthDigest(origin: stale.origin, incarnation: 1, version: 0, issuedAtMillis: 0,
                             endpoints: stale.endpoints.map { var e = $0; e.state = .unhealthy; return e })
        mesh.digests.append(stale)  // arrives last, but is older
        let (table, _) = TableBuilder.build(mesh.inputs([route]), state: TableState(), now: t0)
        #expect(table.effective() == ["c1": 20, "c2": 80])
    }

    @Test func versionMovesOnlyWhenContentChanges() {
        var mesh = healthyMesh()
        var (table, state) = TableBuilder.build(mesh.inputs([route], millis: 1), state: TableState(), now: t0)
        #expect(table.version == 1)
        (table, state) = TableBuilder.build(mesh.inputs([route], millis: 2), state: state, now: at(1))
        #expect(table.version == 1)
        #expect(table.generatedAtMillis == 2)
        mesh.setLive("c2", false)
        (table, state) = TableBuilder.build(mesh.inputs([route], millis: 3), state: state, now: at(2))
        #expect(table.version == 2)
    }

    @Test func hashIgnoresHistoryVersionAndTime() {
        var mesh = healthyMesh()
        // Gateway A saw c2 fail and fully recover; gateway B just started.
        var a = TableBuilder.build(mesh.inputs([route]), state: TableState(), now: t0).state
        mesh.setLive("c2", false)
        a = TableBuilder.build(mesh.inputs([route]), state: a, now: at(1)).state
        mesh.setLive("c2", true)
        a = TableBuilder.build(mesh.inputs([route]), state: a, now: at(2)).state
        let tableA = TableBuilder.build(mesh.inputs([route], millis: 99), state: a, now: at(60)).table
        let tableB = TableBuilder.build(mesh.inputs([route], millis: 7), state: TableState(), now: at(60)).table
        #expect(tableA.version != tableB.version)
        #expect(tableA.hash == tableB.hash)
        #expect(tableA.routes == tableB.routes)
    }

    @Test func routeOrderInTheConfigurationDoesNotMatter() {
        let mesh = healthyMesh()
        let routes = [route, demoRoute(["c1": 50, "c2": 50], path: "/a"), demoRoute(["c1": 100], path: "/z")]
        let one = TableBuilder.build(mesh.inputs(routes), state: TableState(), now: t0).table
        let two = TableBuilder.build(mesh.inputs(routes.reversed()), state: TableState(), now: t0).table
        #expect(one == two)
        #expect(one.routes.map(\.spec.path) == ["/a", "/svc1", "/z"])
    }

    @Test func changeHistoryIsBounded() {
        var mesh = healthyMesh()
        let policy = TablePolicy(holdDown: .zero, slowStart: .zero, changeHistoryLimit: 5)
        var state = TableState()
        for step in 0..<20 {
            mesh.setLive("c2", step % 2 == 0)
            state = TableBuilder.build(mesh.inputs([route]), state: state, policy: policy, now: at(Double(step))).state
        }
        #expect(state.changes.count == 5)
    }

    @Test func removedRoutesAreForgotten() {
        let mesh = healthyMesh()
        let other = demoRoute(["c1": 100], path: "/other")
        let state = TableBuilder.build(mesh.inputs([route, other]), state: TableState(), now: t0).state
        let after = TableBuilder.build(mesh.inputs([route]), state: state, now: at(1)).state
        #expect(after.clusters.keys.allSatisfy { $0.route == route.id })
        #expect(after.lastGood.keys.sorted() == [route.id])
    }
}
