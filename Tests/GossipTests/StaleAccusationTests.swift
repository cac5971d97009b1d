import SeededRandom
import XCTest
import Gossip
import MeshCrypto
import Wire

/// The rule against stale accusations, driven by hand: a member that comes back from a partition or a pause
/// accuses from a view that is out of date, and is doubted for `GossipFormulas.staleViewWindow`.
final class StaleAccusationTests: XCTestCase {
    let keyC1 = try! SigningKeyPair(seed: [UInt8](repeating: 1, count: 32))
    let keyC2 = try! SigningKeyPair(seed: [UInt8](repeating: 2, count: 32))
    var roster: TrustRoster { TrustRoster(["c1": [keyC1.publicKey], "c2": [keyC2.publicKey]]) }
    let start = ContinuousClock.now
    var rng = SplitMix64(seed: 7)
    let wall: UInt64 = 1_800_000_000_000

    func address(_ i: UInt32) -> PeerAddress { PeerAddress(host: .v4(0x7F00_0000 | i), port: 7946) }

    func makeCore(_ name: String, cluster: String, at i: UInt32) -> GossipCore {
        GossipCore(identity: MemberIdentity(name: name, cluster: cluster, generation: 1), address: address(i),
                   signer: cluster == "c1" ? keyC1 : keyC2, verifier: RecordVerifier(roster: roster))
    }

    func sends(_ directives: [GossipDirective]) -> [(messages: [GossipMessage], to: PeerAddress)] {
        directives.compactMap { if case .send(let m, let to, _) = $0 { return (m, to) } else { return nil } }
    }

    func changes(_ directives: [GossipDirective]) -> [MemberSnapshot] {
        directives.compactMap { if case .memberChanged(let m, _) = $0 { return m } else { return nil } }
    }

    /// A gateway-like member `g` that knows `a` and `b` of c1 and `x` of c2; `x` has been declared dead (it was
    /// cut off) and its refutation, incarnation 1, is returned for the test to deliver.
    func gatewayWithXDead() -> (g: GossipCore, xBack: SignedMemberRecord) {
        var g = makeCore("g", cluster: "c1", at: 1)
        var x = makeCore("x", cluster: "c2", at: 4)
        let peers = [makeCore("a", cluster: "c1", at: 2), makeCore("b", cluster: "c1", at: 3), x]
        _ = g.join(seeds: [], now: start, wallClockMillis: wall, rng: &rng)
        for p in peers { _ = g.onStateSync(p.stateSyncRequest(), from: p.address, now: start, wallClockMillis: wall, rng: &rng) }
        // b, alive all along, declares x dead: an accuser with a fresh view is believed at once.
        let verdict = Accusation(kind: .dead, target: "x", generation: 1, incarnation: 0, accuser: "b")
        _ = g.onPacket([.accusation(verdict)], from: address(3), now: start + .seconds(1), wallClockMillis: wall, rng: &rng)
        XCTAssertEqual(g.member(named: "x")?.state, .dead)
        // x hears of its death once the cut heals, and refutes.
        _ = x.onPacket([.accusation(verdict)], from: address(1), now: start + .seconds(5), wallClockMillis: wall, rng: &rng)
        XCTAssertEqual(x.incarnation, 1)
        return (g, x.ownRecord)
    }

    func testAccusationFromAMemberStillHeldDeadIsNotApplied() {
        var (g, _) = gatewayWithXDead()
        let stale = Accusation(kind: .dead, target: "a", generation: 1, incarnation: 0, accuser: "x")
        let out = g.onPacket([.accusation(stale)], from: address(4), now: start + .seconds(5), wallClockMillis: wall, rng: &rng)
        XCTAssertEqual(g.member(named: "a")?.state, .alive)
        XCTAssertTrue(changes(out).isEmpty, "\(changes(out))")
    }

    func testReturningMembersAccusationsInTheSamePacketAsItsRecordAreDoubtedProbedAndNotRelayed() {
        var (g, xBack) = gatewayWithXDead()
        let back = start + .seconds(5)
        let stale: [GossipMessage] = [
            .member(xBack),
            .accusation(Accusation(kind: .dead, target: "a", generation: 1, incarnation: 0, accuser: "x")),
            .accusation(Accusation(kind: .suspect, target: "b", generation: 1, incarnation: 0, accuser: "x")),
        ]
        let out = g.onPacket(stale, from: address(4), now: back, wallClockMillis: wall, rng: &rng)
        XCTAssertEqual(g.member(named: "x")?.state, .alive, "x itself is back")
        XCTAssertEqual(g.member(named: "a")?.state, .alive, "a dead verdict from a view that was cut off")
        XCTAssertEqual(g.member(named: "b")?.state, .alive, "a suspicion from a view that was cut off")
        XCTAssertEqual(changes(out).map(\.name), ["x"])
        // Each accused is probed at once and handed the accusation, so that it refutes.
        for (name, i) in [("a", UInt32(2)), ("b", 3)] {
            let toIt = sends(out).filter { $0.to == address(i) }.flatMap(\.messages)
            XCTAssertTrue(toIt.contains { if case .ping(let p) = $0 { return p.target == name } else { return false } }, "\(name): \(toIt)")
            XCTAssertTrue(toIt.contains { if case .accusation(let acc) = $0 { return acc.target == name && acc.accuser == "x" } else { return false } })
        }
        // A copy relayed by a third member carries x's name and is doubted the same way.
        let relayed = Accusation(kind: .suspect, target: "a", generation: 1, incarnation: 0, accuser: "x")
        _ = g.onPacket([.accusation(relayed)], from: address(3), now: back + .milliseconds(10), wallClockMillis: wall, rng: &rng)
        XCTAssertEqual(g.member(named: "a")?.state, .alive)
        // Nothing g gossips afterwards carries x's accusations: they are not relayed.
        var gossiped: [GossipMessage] = []
        var t = back + .milliseconds(20)
        while t < back + .seconds(2) {
            gossiped += sends(g.onTick(now: t, wallClockMillis: wall, rng: &rng)).flatMap(\.messages)
            t += .milliseconds(20)
        }
        XCTAssertFalse(gossiped.contains { if case .accusation(let acc) = $0 { return acc.accuser == "x" } else { return false } }, "\(gossiped)")
    }

    func testADoubtedAccusedThatDoesNotAnswerIsSuspectedByTheDoubterItself() {
        var (g, xBack) = gatewayWithXDead()
        let back = start + .seconds(5)
        _ = g.onPacket([.member(xBack), .accusation(Accusation(kind: .dead, target: "a", generation: 1, incarnation: 0, accuser: "x"))],
                       from: address(4), now: back, wallClockMillis: wall, rng: &rng)
        // a really is gone: the direct probe gets no ack, and no helper answers either.
        var suspectedBy: MemberSnapshot?
        var t = back
        while t < back + g.settings.probeInterval * 2, suspectedBy == nil {
            t += .milliseconds(10)
            suspectedBy = changes(g.onTick(now: t, wallClockMillis: wall, rng: &rng)).first { $0.name == "a" }
        }
        XCTAssertEqual(suspectedBy?.state, .suspect, "the doubter's own probe found a silent")
        XCTAssertLessThanOrEqual(t - back, g.settings.probeInterval, "within one probe period of the doubted rumour")
    }

    func testReturnedMembersAccusationsCountAgainAfterTheWindow() {
        var (g, xBack) = gatewayWithXDead()
        let back = start + .seconds(5)
        _ = g.onPacket([.member(xBack)], from: address(4), now: back, wallClockMillis: wall, rng: &rng)
        let window = GossipFormulas.staleViewWindow(settings: g.settings, n: 4)
        let inside = Accusation(kind: .suspect, target: "a", generation: 1, incarnation: 0, accuser: "x")
        _ = g.onPacket([.accusation(inside)], from: address(4), now: back + window - .milliseconds(1), wallClockMillis: wall, rng: &rng)
        XCTAssertEqual(g.member(named: "a")?.state, .alive, "still within the window")
        _ = g.onPacket([.accusation(inside)], from: address(4), now: back + window, wallClockMillis: wall, rng: &rng)
        XCTAssertEqual(g.member(named: "a")?.state, .suspect, "x's view is fresh again: its own probes since it came back")
    }

    func testAccusationsFromMembersAliveAllAlongAndFromUnknownOnesAreAppliedAtOnce() {
        var (g, _) = gatewayWithXDead()
        _ = g.onPacket([.accusation(Accusation(kind: .suspect, target: "a", generation: 1, incarnation: 0, accuser: "b"))],
                       from: address(3), now: start + .seconds(5), wallClockMillis: wall, rng: &rng)
        XCTAssertEqual(g.member(named: "a")?.state, .suspect)
        // An accuser we have never heard of (a joiner whose news has not reached us): nothing says its view is stale.
        _ = g.onPacket([.accusation(Accusation(kind: .dead, target: "b", generation: 1, incarnation: 0, accuser: "newcomer"))],
                       from: address(9), now: start + .seconds(5), wallClockMillis: wall, rng: &rng)
        XCTAssertEqual(g.member(named: "b")?.state, .dead)
    }
}
