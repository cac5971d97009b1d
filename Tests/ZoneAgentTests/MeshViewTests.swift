import Gossip
import MeshCrypto
import GossipNIO
import Wire
import WeightTable
import XCTest

@testable import ZoneAgent

/// The gateway's event-fed view of the mesh: what the table is rebuilt from.
final class MeshViewTests: XCTestCase {
    let route = RouteSpec(uncheckedHost: "demo", path: "/", pathType: .prefix, service: "ns/svc", weights: ["c1": 20, "c2": 80])

    func identity(_ name: String, _ cluster: String, generation: UInt64 = 1) -> MemberIdentity {
        MemberIdentity(name: name, cluster: cluster, generation: generation)
    }

    func member(_ name: String, _ cluster: String, _ state: MemberState, generation: UInt64 = 1) -> MemberSnapshot {
        MemberSnapshot(identity: identity(name, cluster, generation: generation),
                       address: PeerAddress(host: .v4(0x7F00_0001), port: 7946), state: state, incarnation: 0)
    }

    func digest(_ name: String, _ cluster: String, version: UInt64, healthy: Bool = true) -> HealthDigest {
        HealthDigest(origin: identity(name, cluster), incarnation: 0, version: version, issuedAtMillis: 0,
                     endpoints: [EndpointHealth(service: "ns/svc", host: "\(cluster).pod", port: 80, state: healthy ? .healthy : .unhealthy)])
    }

    func changed(_ m: MemberSnapshot) -> GossipEvent { .memberChanged(m, previous: nil) }
    func accepted(_ d: HealthDigest) -> GossipEvent { .digestAccepted(signed(d), missedByGossip: false) }

    func weights(_ view: MeshView) -> [String: Int] {
        let table = TableBuilder.build(inputs(view), state: TableState(), now: .now).table
        return Dictionary(uniqueKeysWithValues: table.routes[0].clusters.map { ($0.cluster, $0.effectiveWeight) })
    }

    func inputs(_ view: MeshView) -> TableInputs {
        view.tableInputs(routes: [route], digests: view.signedDigests.map(\.digest), wallClockMillis: 1)
    }

    func signed(_ d: HealthDigest) -> SignedDigest { SignedDigest(digest: d, keyID: KeyID(rawValue: 0), signature: []) }

    func twoClusters() -> MeshView {
        var view = MeshView()
        for (name, cluster) in [("a1", "c1"), ("a2", "c2"), ("b2", "c2")] {
            view.apply(changed(member(name, cluster, .alive)))
            view.apply(accepted(digest(name, cluster, version: 1)))
        }
        return view
    }

    func testEventsMoveTheWeightsWithoutACopyOfTheMesh() {
        var view = twoClusters()
        XCTAssertEqual(weights(view), ["c1": 20, "c2": 80])
        XCTAssertTrue(view.apply(changed(member("a2", "c2", .suspect))))
        XCTAssertEqual(weights(view), ["c1": 20, "c2": 80], "b2 still vouches")
        view.apply(changed(member("b2", "c2", .suspect)))
        XCTAssertEqual(weights(view), ["c1": 100, "c2": 0], "every agent of c2 suspected: the default rule fails it over")
        view.apply(changed(member("b2", "c2", .alive)))
        XCTAssertEqual(weights(view), ["c1": 20, "c2": 80])
    }

    func testAnOlderDigestChangesNothing() {
        var view = twoClusters()
        XCTAssertTrue(view.apply(accepted(digest("a2", "c2", version: 5, healthy: false))))
        XCTAssertFalse(view.apply(accepted(digest("a2", "c2", version: 4))), "older than the one held")
        XCTAssertFalse(view.apply(.recordRejected(RecordRejection.badSignature(origin: "x"))))
    }

    func testIsolatedOnlyAfterContact() {
        var view = MeshView()
        XCTAssertFalse(view.isolated, "never heard from anyone: starting, not cut off")
        view.apply(changed(member("a1", "c1", .alive)))
        view.apply(changed(member("a1", "c1", .suspect)))
        XCTAssertFalse(view.isolated, "a suspect is still in contact")
        view.apply(changed(member("a1", "c1", .dead)))
        XCTAssertTrue(view.isolated)
        XCTAssertTrue(inputs(view).isolated)
        view.apply(changed(member("a1", "c1", .alive, generation: 2)))
        XCTAssertFalse(view.isolated)
    }

    /// A gateway cut off from the mesh suspects the members it probes one by one: those suspicions are doubtful
    /// and leave the weights alone, and once it is cut off it fails static on the table from before.
    func testDoubtfulSuspicionsLeaveTheTableAloneAndACutOffGatewayIsIsolated() {
        var view = twoClusters()
        var doubtful = member("a1", "c1", .suspect)
        doubtful.doubtful = true
        XCTAssertTrue(view.apply(changed(doubtful)))
        XCTAssertEqual(weights(view), ["c1": 20, "c2": 80], "c1's only agent is suspect on the gateway's unanswered probe alone")
        XCTAssertFalse(view.isolated)
        XCTAssertTrue(view.apply(.cutOff(true)))
        XCTAssertTrue(view.isolated)
        XCTAssertTrue(inputs(view).isolated)
        XCTAssertFalse(view.apply(.cutOff(true)), "no news")
        XCTAssertTrue(view.apply(.cutOff(false)))
        XCTAssertFalse(view.isolated)
        // Another member confirmed the suspicion: now it is evidence.
        XCTAssertTrue(view.apply(changed(member("a1", "c1", .suspect))))
        XCTAssertEqual(weights(view), ["c1": 0, "c2": 100])
    }

    func testAResyncCarriesTheCutOff() {
        var view = twoClusters()
        view.beginResync()
        view.resync(members: [member("a1", "c1", .alive)], digests: [], cutOff: true)
        XCTAssertTrue(view.isolated)
        view.beginResync()
        view.apply(.cutOff(false))
        view.resync(members: [member("a1", "c1", .alive)], digests: [], cutOff: true)
        XCTAssertFalse(view.isolated, "the answer that raced the snapshot is replayed on top of it")
    }

    func testAResyncForgetsWhatTheServiceForgotAndKeepsEventsThatRacedIt() {
        var view = twoClusters()
        view.beginResync()
        // The suspicion arrives while the snapshot is on its way; the snapshot was read before it.
        view.apply(changed(member("a2", "c2", .suspect)))
        view.apply(changed(member("b2", "c2", .suspect)))
        view.resync(members: [member("a1", "c1", .alive), member("a2", "c2", .alive), member("b2", "c2", .alive)],
                    digests: [digest("a1", "c1", version: 1), digest("a2", "c2", version: 1), digest("b2", "c2", version: 1)].map(signed))
        XCTAssertEqual(weights(view), ["c1": 100, "c2": 0], "the raced suspicions are replayed on top of the snapshot")
        // A plain resync replaces the view: members the service pruned are gone.
        view.beginResync()
        view.resync(members: [member("a1", "c1", .alive)], digests: [signed(digest("a1", "c1", version: 1))])
        let resynced = inputs(view)
        XCTAssertEqual(resynced.members.map(\.name), ["a1"])
        XCTAssertEqual(resynced.digests.map(\.origin.name), ["a1"])
    }
}

extension MeshViewTests {
    /// The status page says which `whenNoneHealthy` rule serves a route that no cluster can.
    func testTheStatusPageNamesTheRuleThatServesARouteNoClusterCan() {
        for (rule, text) in [(TrafficPolicy.NoneHealthy.none, "fail closed: 503"), (.all, "fail open: every known endpoint")] {
            var spec = route
            spec.traffic = TrafficPolicy.Overrides(whenNoneHealthy: rule)
            var view = twoClusters()
            for name in ["a1", "a2", "b2"] { view.apply(changed(member(name, name == "a1" ? "c1" : "c2", .suspect))) }
            let table = TableBuilder.build(view.tableInputs(routes: [spec], digests: view.signedDigests.map(\.digest), wallClockMillis: 1),
                                           state: TableState(), now: .now).table
            let page = StatusPage.Inputs(gateway: "gw", version: "test", startedAtMillis: 0, nowMillis: 1, members: [], digests: [],
                                         table: table, history: [:], events: [])
            XCTAssertTrue(StatusPage.render(page).contains(text), "\(rule)")
        }
    }
}
