import Gossip
import Wire
import WeightTable
import XCTest

@testable import ZoneAgent

/// Issue 9 at the gateway: c1's agent name started twice, the newer process stopped (left), c1's other agent
/// died. The older process still runs and probes: c1 must keep its share.
final class NameConflictVouchingTests: XCTestCase {
    let older = MemberIdentity(name: "c1-a", cluster: "c1", generation: 5)
    let newer = MemberIdentity(name: "c1-a", cluster: "c1", generation: 6)
    let other = MemberIdentity(name: "c1-b", cluster: "c1", generation: 1)
    let c2 = MemberIdentity(name: "c2-a", cluster: "c2", generation: 1)

    func address(_ i: UInt32) -> PeerAddress { PeerAddress(host: .v4(0x7F00_0000 | i), port: 7946) }

    func digest(_ origin: MemberIdentity, version: UInt64, hosts: [String]) -> HealthDigest {
        HealthDigest(origin: origin, incarnation: 0, version: version, issuedAtMillis: 0,
                     endpoints: hosts.map { EndpointHealth(service: TableFixture.route.service, host: $0, port: 8080, state: .healthy) })
    }

    var members: [MemberSnapshot] {
        [MemberSnapshot(identity: older, address: address(2), state: .alive, incarnation: 3),
         MemberSnapshot(identity: newer, address: address(3), state: .left, incarnation: 1),
         MemberSnapshot(identity: other, address: address(4), state: .dead, incarnation: 0),
         MemberSnapshot(identity: c2, address: address(5), state: .alive, incarnation: 0)]
    }

    var digests: [HealthDigest] {
        [digest(older, version: 9, hosts: ["127.0.0.11"]), digest(newer, version: 1, hosts: ["127.0.0.11"]),
         digest(other, version: 1, hosts: ["127.0.0.11"]), digest(c2, version: 1, hosts: ["127.0.0.21"])]
    }

    func c1Weight(_ views: [MemberView], _ digests: [HealthDigest]) -> Int? {
        let inputs = TableInputs(routes: [TableFixture.route], members: views, digests: digests, wallClockMillis: 1_764_000_000_000)
        let table = TableBuilder.build(inputs, state: TableState(), now: .now).table
        return table.routes.first?.clusters.first { $0.cluster == "c1" }?.effectiveWeight
    }

    func testTheOlderProcessOfANameStartedTwiceKeepsVouchingAfterTheNewerLeft() {
        // One view per name, as before: the live older generation is picked, the newer generation's digest is
        // taken as the name's newest, they do not match, and c1 loses its traffic although an agent is up.
        let plain = members.map { MemberView($0.identity, standing: $0.state.standing) }
        XCTAssertEqual(c1Weight(plain, digests), 0, "the failure of the issue")
        let (views, vouching) = MeshView.vouchingInputs(members: members, digests: digests)
        XCTAssertEqual(c1Weight(views, vouching), 20)
        // Both live: both vouch, the weights are as configured.
        var bothLive = members
        bothLive[1].state = .alive
        let (liveViews, liveDigests) = MeshView.vouchingInputs(members: bothLive, digests: digests)
        XCTAssertEqual(c1Weight(liveViews, liveDigests), 20)
    }

    func testNamesHeldOnceArePassedUnchanged() {
        let once = members.filter { $0.identity != newer }
        let (views, vouching) = MeshView.vouchingInputs(members: once, digests: digests)
        XCTAssertEqual(views, once.map { MemberView($0.identity, standing: $0.state.standing) })
        XCTAssertEqual(vouching, digests)
    }

    func testTheStatusPageListsANameStartedTwiceWithBothAddresses() {
        var bothLive = members
        bothLive[1].state = .alive
        let html = StatusPage.conflicts(bothLive)
        XCTAssertTrue(html.contains("member names started twice"))
        XCTAssertTrue(html.contains("127.0.0.2:7946") && html.contains("127.0.0.3:7946"))
        XCTAssertEqual(StatusPage.conflicts(members), "", "one live process per name: nothing to show")
    }
}
