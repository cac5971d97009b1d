import Testing
import Wire
@testable import WeightTable

/// Drains that expire (issue 16, item 4): a drained cluster's share moves at once, as a failover's does, and comes
/// back with the hold-down and slow start when the drain ends or is undone; the same orders give the same table.
@Suite("Drains in the table")
struct DrainTableTests {
    let t0 = ContinuousClock.now
    let ms0: UInt64 = 1_764_039_600_000

    func mesh(_ clusters: [String] = ["c1", "c2", "c3"]) -> Mesh {
        var mesh = Mesh()
        for c in clusters { mesh.cluster(c, healthy: 2) }
        return mesh
    }

    func drain(_ cluster: String, route: String = "", issued: UInt64 = 0, forSeconds: UInt64 = 60, key: String = "00000000000000aa") -> OperatorDrain {
        OperatorDrain(record: DrainRecord(cluster: cluster, route: route, issuedAtMillis: ms0 + issued * 1000,
                                          untilMillis: ms0 + (issued + forSeconds) * 1000), operatorKeyID: key)
    }

    func undrain(_ cluster: String, route: String = "", issued: UInt64) -> OperatorDrain {
        OperatorDrain(record: DrainRecord(cluster: cluster, route: route, issuedAtMillis: ms0 + issued * 1000, untilMillis: ms0 + issued * 1000),
                      operatorKeyID: "00000000000000aa")
    }

    /// The table at `seconds` after t0, with `drains` in force then.
    func build(_ routes: [RouteSpec], _ drains: [OperatorDrain], state: TableState = TableState(), at seconds: UInt64,
               mesh: Mesh? = nil) -> (table: RoutingTable, state: TableState) {
        var inputs = (mesh ?? self.mesh()).inputs(routes, millis: ms0 + seconds * 1000)
        inputs.drains = drains
        return TableBuilder.build(inputs, state: state, policy: TablePolicy(), now: t0.advanced(by: .seconds(Int64(seconds))))
    }

    let route = demoRoute(["c1": 20, "c2": 50, "c3": 30])

    @Test func aDrainedClustersShareMovesAtOnceAndSaysWhoAndUntilWhen() {
        let first = build([route], [], at: 0)
        #expect(first.table.effective() == ["c1": 20, "c2": 50, "c3": 30])
        let drained = build([route], [drain("c2", issued: 1)], state: first.state, at: 1)
        #expect(drained.table.effective() == ["c1": 40, "c2": 0, "c3": 60], "proportional, as a failover")
        let c2 = drained.table.cluster("c2")!
        #expect(c2.state == .drained)
        #expect(c2.reason == "drained by operator 00000000000000aa until \(Timestamp.iso8601(millis: ms0 + 61_000))")
        #expect(c2.healthyEndpoints == 2, "its health is still shown")
        #expect(drained.table.routes[0].endpoints.allSatisfy { $0.cluster != "c2" })
        #expect(drained.state.nextLeaseExpiryMillis == ms0 + 61_000, "the shell wakes when the drain ends")
        #expect(drained.state.latestChanges.contains { $0.cluster == "c2" && $0.to == 0 && $0.reason.hasPrefix("drained by operator") })
        #expect(TableText.render(drained.table).contains("drained"))
    }

    /// What a starting gateway waits for before it takes traffic: a table built before it heard an order does not hold
    /// it; one built after does; an order that has ended or was undone asks nothing.
    @Test func aTableHoldsTheDrainsInForceOnlyOnceBuiltWithThem() {
        let d = drain("c2", issued: 1, forSeconds: 30)
        let before = build([route], [], at: 2)
        #expect(!before.table.holds([d], nowMillis: ms0 + 2_000))
        let after = build([route], [d], state: before.state, at: 2)
        #expect(after.table.holds([d], nowMillis: ms0 + 2_000))
        #expect(before.table.holds([d], nowMillis: ms0 + 31_000), "ended")
        #expect(before.table.holds([d, undrain("c2", issued: 5)], nowMillis: ms0 + 6_000), "undone")
        let other = demoRoute(["c1": 50, "c2": 50], path: "/other")
        let scoped = drain("c2", route: other.id, issued: 1)
        #expect(before.table.holds([scoped], nowMillis: ms0 + 2_000), "a drain of a route this table does not have")
    }

    @Test func expiryGivesTheShareBackWithHoldDownAndSlowStart() {
        let d = drain("c2", issued: 1, forSeconds: 30)
        var state = build([route], [], at: 0).state
        state = build([route], [d], state: state, at: 1).state
        let stillDrained = build([route], [d], state: state, at: 30)
        #expect(stillDrained.table.cluster("c2")?.state == .drained)
        // At the order's end: held down (10 s), then ramped (10 s), then whole.
        let ended = build([route], [d], state: stillDrained.state, at: 31)
        #expect(ended.table.cluster("c2")?.state == .recovering)
        #expect(ended.table.effective()["c2"] == 0)
        let ramping = build([route], [d], state: ended.state, at: 46)
        #expect(ramping.table.cluster("c2")?.state == .recovering)
        #expect((1..<50).contains(ramping.table.effective()["c2"]!))
        let whole = build([route], [d], state: ramping.state, at: 52)
        #expect(whole.table.effective() == ["c1": 20, "c2": 50, "c3": 30])
    }

    @Test func anUndrainEndsTheDrainEarlyAndAReplayCannotComeBack() {
        let d = drain("c2", issued: 1, forSeconds: 3600)
        var state = build([route], [], at: 0).state
        state = build([route], [d], state: state, at: 1).state
        let undone = build([route], [d, undrain("c2", issued: 5)], state: state, at: 5)
        #expect(undone.table.cluster("c2")?.state == .recovering, "back through the hold-down")
        // The old drain again, beside the undrain that outranks it: nothing changes.
        let replayed = build([route], [undrain("c2", issued: 5), d, d], state: undone.state, at: 6)
        #expect(replayed.table.cluster("c2")?.state == .recovering)
    }

    @Test func aRouteScopedDrainOnlyAffectsThatRoute() {
        let other = demoRoute(["c1": 50, "c2": 50], path: "/other")
        let routes = [route, other]
        let state = build(routes, [], at: 0).state
        let built = build(routes, [drain("c2", route: other.id, issued: 1)], state: state, at: 1)
        let byPath = Dictionary(uniqueKeysWithValues: built.table.routes.enumerated().map { ($0.element.spec.path, built.table.effective($0.offset)) })
        #expect(byPath["/svc1"] == ["c1": 20, "c2": 50, "c3": 30])
        #expect(byPath["/other"] == ["c1": 100, "c2": 0])
        // A later undrain of every route ends it too; a later drain of one route holds beside an older all-routes one.
        let undone = build(routes, [drain("c2", route: other.id, issued: 1), undrain("c2", issued: 2)], state: built.state, at: 2)
        #expect(undone.table.routes.allSatisfy { r in r.clusters.allSatisfy { $0.state != .drained } })
        let both = build(routes, [drain("c2", issued: 1), drain("c2", route: other.id, issued: 2)], at: 3)
        #expect(both.table.routes.allSatisfy { r in r.clusters.first { $0.cluster == "c2" }?.state == .drained })
    }

    @Test func sumsStayAHundredAndOrderNeverMatters() {
        let drains = [drain("c1", issued: 1), drain("c3", route: route.id, issued: 2, forSeconds: 5), undrain("c1", issued: 3),
                      drain("c2", issued: 4, forSeconds: 120, key: "00000000000000bb")]
        var rng = SystemRandomNumberGenerator()
        for at: UInt64 in [0, 2, 3, 5, 8, 200] {
            let reference = build([route], drains, at: at).table
            #expect(reference.routes[0].clusters.reduce(0) { $0 + $1.effectiveWeight } == 100, "at \(at) s")
            for _ in 0..<10 {
                let shuffled = (drains + drains.prefix(2)).shuffled(using: &rng)
                let table = build([route], shuffled, at: at).table
                #expect(table.hash == reference.hash, "at \(at) s")
                #expect(table.routes == reference.routes)
            }
        }
    }

    @Test func twoGatewaysWithTheSameOrdersKeepTheSameHash() {
        // Different histories (one started later), the same orders and instant: the same table.
        let d = drain("c2", issued: 10, forSeconds: 60)
        var early = build([route], [], at: 0).state
        early = build([route], [d], state: early, at: 10).state
        let a = build([route], [d], state: early, at: 20).table
        let b = build([route], [d], at: 20).table
        #expect(a.hash == b.hash)
    }

    @Test func drainingEveryClusterFollowsWhenNoneHealthy() {
        for rule in TrafficPolicy.NoneHealthy.allCases {
            var r = demoRoute(["c1": 20, "c2": 80])
            r.traffic = TrafficPolicy.Overrides(TrafficPolicy(whenNoneHealthy: rule))
            let state = build([r], [], at: 0, mesh: mesh(["c1", "c2"])).state
            let all = build([r], [drain("c1", issued: 1), drain("c2", issued: 1)], state: state, at: 1, mesh: mesh(["c1", "c2"]))
            let entry = all.table.routes[0]
            #expect(entry.fallback == rule)
            switch rule {
            case .lastGood: #expect(entry.failStatic && all.table.effective() == ["c1": 20, "c2": 80])
            case .all: #expect(!entry.failStatic && entry.endpoints.count == 4)
            case .none: #expect(!entry.canServe && entry.endpoints.isEmpty)
            }
        }
    }
}
