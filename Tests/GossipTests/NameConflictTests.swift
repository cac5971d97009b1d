import SeededRandom
import XCTest
import Gossip
import GossipSimulation
import MeshCrypto
import Wire

/// One member name started twice (issue 9), driven by hand: a newer generation replaces an older one at once, and
/// the older one stays a member of its own only if it answers a ping addressed to its generation.
final class NameConflictCoreTests: XCTestCase {
    let key = try! SigningKeyPair(seed: [UInt8](repeating: 1, count: 32))
    var roster: TrustRoster { TrustRoster(["c1": [key.publicKey]]) }
    let start = ContinuousClock.now
    var rng = SplitMix64(seed: 9)
    let wall: UInt64 = 1_800_000_000_000

    func address(_ i: UInt32) -> PeerAddress { PeerAddress(host: .v4(0x7F00_0000 | i), port: 7946) }

    func makeCore(_ name: String, generation: UInt64 = 1, at i: UInt32) -> GossipCore {
        GossipCore(identity: MemberIdentity(name: name, cluster: "c1", generation: generation), address: address(i),
                   signer: key, verifier: RecordVerifier(roster: roster))
    }

    func pings(_ directives: [GossipDirective]) -> [(ping: Ping, to: PeerAddress)] {
        directives.flatMap { directive -> [(Ping, PeerAddress)] in
            guard case .send(let messages, let to, _) = directive else { return [] }
            return messages.compactMap { if case .ping(let p) = $0 { return (p, to) } else { return nil } }
        }
    }

    func conflicts(_ directives: [GossipDirective]) -> [NameConflict] {
        directives.compactMap { if case .nameConflict(let c) = $0 { return c } else { return nil } }
    }

    /// a holds b#5 at address 2, then hears b#6 at address 3; returns a and the directives of that moment.
    func heardNamesake() -> (GossipCore, [GossipDirective]) {
        var a = makeCore("a", at: 1)
        _ = a.join(seeds: [], now: start, wallClockMillis: wall, rng: &rng)
        _ = a.onPacket([.member(makeCore("b", generation: 5, at: 2).ownRecord)], from: address(2), now: start,
                       wallClockMillis: wall, rng: &rng)
        let out = a.onPacket([.member(makeCore("b", generation: 6, at: 3).ownRecord)], from: address(3),
                             now: start + .milliseconds(1), wallClockMillis: wall, rng: &rng)
        return (a, out)
    }

    func testANamesakeThatAnswersItsPingStaysAMemberBesideTheNewerGeneration() {
        var (a, out) = heardNamesake()
        // As today, the newer generation takes the name at once; the older one is asked, by a ping addressed to it.
        XCTAssertEqual(a.members(named: "b").map(\.identity.generation), [6])
        let check = pings(out).filter { $0.ping.target == "b" && $0.ping.targetGeneration == 5 }
        XCTAssertEqual(check.map(\.to), [address(2)], "one check, at the older generation's address")
        XCTAssertTrue(conflicts(out).isEmpty, "nothing is known yet")
        // b#5 answers: it still runs. Both generations are members, alive, and the conflict is reported.
        let answered = a.onPacket([.ack(Ack(sequence: check[0].ping.sequence, source: "b"))], from: address(2),
                                  now: start + .milliseconds(2), wallClockMillis: wall, rng: &rng)
        XCTAssertEqual(Set(a.members(named: "b").map(\.identity.generation)), [5, 6])
        XCTAssertTrue(a.members(named: "b").allSatisfy { $0.state == .alive })
        let reported = conflicts(answered)
        XCTAssertEqual(reported.count, 1)
        XCTAssertEqual(reported.first?.members.map(\.address), [address(2), address(3)], "both addresses, oldest first")
        XCTAssertEqual(a.nameConflicts.map(\.name), ["b"])
        XCTAssertEqual(a.activeMemberCount, 2)

        // The death of one generation never touches the other.
        _ = a.onPacket([.accusation(Accusation(kind: .dead, target: "b", generation: 5, incarnation: 0, accuser: "c"))],
                       from: address(4), now: start + .milliseconds(3), wallClockMillis: wall, rng: &rng)
        XCTAssertEqual(a.members(named: "b").first { $0.identity.generation == 5 }?.state, .dead)
        XCTAssertEqual(a.members(named: "b").first { $0.identity.generation == 6 }?.state, .alive)
        XCTAssertTrue(a.nameConflicts.isEmpty, "one live process left")
        // Nor does the other's graceful leave, the other way round.
        var b = conflicted()
        var left = makeCore("b", generation: 6, at: 3)
        _ = left.leave(now: start, rng: &rng)
        _ = b.onPacket([.member(left.ownRecord)], from: address(3), now: start + .milliseconds(3), wallClockMillis: wall, rng: &rng)
        XCTAssertEqual(b.members(named: "b").first { $0.identity.generation == 6 }?.state, .left)
        XCTAssertEqual(b.members(named: "b").first { $0.identity.generation == 5 }?.state, .alive, "left by its namesake, still there")
        XCTAssertEqual(b.activeMemberCount, 1)
    }

    /// a holding b#5 and b#6, both confirmed running.
    func conflicted() -> GossipCore {
        var (a, out) = heardNamesake()
        let check = pings(out).first { $0.ping.targetGeneration == 5 }!
        _ = a.onPacket([.ack(Ack(sequence: check.ping.sequence, source: "b"))], from: address(2), now: start + .milliseconds(2),
                       wallClockMillis: wall, rng: &rng)
        return a
    }

    func testWhenTheNewerOnesTombstoneExpiresTheOlderOneHoldsTheNameAlone() {
        var settings = GossipSettings()
        settings.tombstoneTime = .seconds(10)
        var a = GossipCore(identity: MemberIdentity(name: "a", cluster: "c1", generation: 1), address: address(1), settings: settings,
                           signer: key, verifier: RecordVerifier(roster: roster))
        _ = a.join(seeds: [], now: start, wallClockMillis: wall, rng: &rng)
        _ = a.onPacket([.member(makeCore("b", generation: 5, at: 2).ownRecord), .member(makeCore("c", at: 4).ownRecord)],
                       from: address(2), now: start, wallClockMillis: wall, rng: &rng)
        let out = a.onPacket([.member(makeCore("b", generation: 6, at: 3).ownRecord)], from: address(3), now: start,
                             wallClockMillis: wall, rng: &rng)
        let check = pings(out).first { $0.ping.targetGeneration == 5 }!
        _ = a.onPacket([.ack(Ack(sequence: check.ping.sequence, source: "b"))], from: address(2), now: start, wallClockMillis: wall, rng: &rng)
        var left = makeCore("b", generation: 6, at: 3)
        _ = left.leave(now: start, rng: &rng)
        _ = a.onPacket([.member(left.ownRecord)], from: address(3), now: start, wallClockMillis: wall, rng: &rng)
        XCTAssertEqual(a.members(named: "b").map(\.state), [.left, .alive])
        // Runs well past the tombstone time; b#5 (at 2) and c (at 4) answer every ping addressed to them.
        var t = Duration.zero
        var pending: [GossipDirective] = []
        while t < .seconds(15) {
            t += .milliseconds(10)
            pending += a.onTick(now: start + t, wallClockMillis: wall, rng: &rng)
            var answers: [(GossipMessage, PeerAddress)] = []
            for (ping, to) in pings(pending) {
                if to == address(2), ping.target == "b", ping.targetGeneration == 5 { answers.append((.ack(Ack(sequence: ping.sequence, source: "b")), to)) }
                if to == address(4), ping.target == "c" { answers.append((.ack(Ack(sequence: ping.sequence, source: "c")), to)) }
            }
            pending = answers.flatMap { a.onPacket([$0.0], from: $0.1, now: start + t, wallClockMillis: wall, rng: &rng) }
        }
        XCTAssertEqual(a.members.filter { $0.state == .alive }.map(\.name), ["b", "c"])
        XCTAssertEqual(a.members(named: "b").map(\.identity.generation), [5], "the left newer one is forgotten, the older one stays")
        XCTAssertEqual(a.member(named: "b")?.identity.generation, 5)
        XCTAssertEqual(a.members.filter { $0.name == "c" }.count, 1)
    }

    func testEachLiveGenerationKeepsItsOwnDigest() {
        var a = conflicted()
        let older = MemberIdentity(name: "b", cluster: "c1", generation: 5)
        let newer = MemberIdentity(name: "b", cluster: "c1", generation: 6)
        let d6 = SignedDigest(signing: HealthDigest(origin: newer, incarnation: 0, version: 1, issuedAtMillis: wall, endpoints: []), with: key)
        let d5 = SignedDigest(signing: HealthDigest(origin: older, incarnation: 0, version: 9, issuedAtMillis: wall, endpoints: []), with: key)
        _ = a.onPacket([.digest(d6)], from: address(3), now: start + .milliseconds(3), wallClockMillis: wall, rng: &rng)
        _ = a.onPacket([.digest(d5)], from: address(2), now: start + .milliseconds(4), wallClockMillis: wall, rng: &rng)
        XCTAssertEqual(a.digests, [d5, d6], "each generation's own, oldest first")
        XCTAssertEqual(a.digest(from: "b"), d6)
        // A joiner gets both in its state sync.
        var c = makeCore("c", at: 7)
        _ = c.join(seeds: [], now: start, wallClockMillis: wall, rng: &rng)
        let (reply, _) = a.onStateSync(c.stateSyncRequest(), from: address(7), now: start + .milliseconds(5), wallClockMillis: wall, rng: &rng)
        XCTAssertTrue(reply.contains(.digest(d5)) && reply.contains(.digest(d6)))
        // A digest of a generation that is not held (a predecessor's) is old news.
        let d4 = SignedDigest(signing: HealthDigest(origin: MemberIdentity(name: "b", cluster: "c1", generation: 4), incarnation: 0,
                                                    version: 50, issuedAtMillis: wall, endpoints: []), with: key)
        let out = a.onPacket([.digest(d4)], from: address(2), now: start + .milliseconds(6), wallClockMillis: wall, rng: &rng)
        XCTAssertFalse(out.contains { if case .digestAccepted = $0 { return true } else { return false } })
        XCTAssertEqual(a.digests, [d5, d6])
    }

    func testASilentPredecessorIsGoneForGoodAndItsReplaysCostNothing() {
        var (a, out) = heardNamesake()
        let check = pings(out).filter { $0.ping.targetGeneration == 5 }
        XCTAssertEqual(check.count, 1)
        // No answer: one more ping after a probe interval, then nothing.
        let interval = a.settings.probeInterval
        let retry = pings(a.onTick(now: start + interval + .milliseconds(2), wallClockMillis: wall, rng: &rng))
            .filter { $0.ping.targetGeneration == 5 }
        XCTAssertEqual(retry.count, 1)
        let after = pings(a.onTick(now: start + interval * 2 + .milliseconds(3), wallClockMillis: wall, rng: &rng))
            .filter { $0.ping.targetGeneration == 5 }
        XCTAssertTrue(after.isEmpty)
        XCTAssertEqual(a.members(named: "b").map(\.identity.generation), [6])
        // A replay of the predecessor's record: no member, no ping.
        let replay = a.onPacket([.member(makeCore("b", generation: 5, at: 2).ownRecord)], from: address(9),
                                now: start + interval * 3, wallClockMillis: wall, rng: &rng)
        XCTAssertTrue(pings(replay).isEmpty)
        XCTAssertEqual(a.members(named: "b").map(\.identity.generation), [6])
        XCTAssertTrue(a.nameConflicts.isEmpty)
        // A late ack for the expired check admits nothing.
        _ = a.onPacket([.ack(Ack(sequence: check[0].ping.sequence, source: "b"))], from: address(2),
                       now: start + interval * 3, wallClockMillis: wall, rng: &rng)
        XCTAssertEqual(a.members(named: "b").count, 1)
    }

    func testARestartAtTheSameAddressIsNotCheckedAtAll() {
        var a = makeCore("a", at: 1)
        _ = a.join(seeds: [], now: start, wallClockMillis: wall, rng: &rng)
        _ = a.onPacket([.member(makeCore("b", generation: 5, at: 2).ownRecord)], from: address(2), now: start,
                       wallClockMillis: wall, rng: &rng)
        let out = a.onPacket([.member(makeCore("b", generation: 6, at: 2).ownRecord)], from: address(2),
                             now: start + .milliseconds(1), wallClockMillis: wall, rng: &rng)
        XCTAssertTrue(pings(out).filter { $0.ping.target == "b" }.isEmpty, "two processes cannot share an address")
        XCTAssertEqual(a.members(named: "b").map(\.identity.generation), [6])
    }

    func testAMemberThatHearsANewerProcessUnderItsNameReportsItAndReasserts() {
        var a = makeCore("a", generation: 5, at: 1)
        _ = a.join(seeds: [], now: start, wallClockMillis: wall, rng: &rng)
        let newer = makeCore("a", generation: 6, at: 2).ownRecord
        let out = a.onPacket([.member(newer)], from: address(3), now: start, wallClockMillis: wall, rng: &rng)
        XCTAssertEqual(conflicts(out).first?.members.map(\.address), [address(1), address(2)])
        XCTAssertEqual(a.incarnation, 1, "a newer record of its own, so that members that replaced it ask again")
        XCTAssertEqual(a.nameConflicts.count, 1)
        // Heard again at once: no second report, no second raise.
        let again = a.onPacket([.member(newer)], from: address(3), now: start + .milliseconds(5), wallClockMillis: wall, rng: &rng)
        XCTAssertTrue(conflicts(again).isEmpty)
        XCTAssertEqual(a.incarnation, 1)
        // The other process leaves: the name is a's alone again.
        var other = makeCore("a", generation: 6, at: 2)
        _ = other.leave(now: start, rng: &rng)
        _ = a.onPacket([.member(other.ownRecord)], from: address(3), now: start + .milliseconds(6), wallClockMillis: wall, rng: &rng)
        XCTAssertTrue(a.nameConflicts.isEmpty)
        XCTAssertEqual(a.incarnation, 1)
        // Its own predecessor's record (same address) is a rumour: no check, no conflict.
        var b = makeCore("b", generation: 7, at: 5)
        let old = makeCore("b", generation: 6, at: 5).ownRecord
        let heard = b.onPacket([.member(old)], from: address(3), now: start, wallClockMillis: wall, rng: &rng)
        XCTAssertTrue(pings(heard).isEmpty)
        XCTAssertTrue(conflicts(heard).isEmpty)
    }
}

/// A name started twice on the virtual network: both processes stay members everywhere, the conflict is reported,
/// and the end of either one leaves the other alive.
final class NameConflictSimulationTests: XCTestCase {
    /// A formed mesh of `n` (two clusters) plus a second process under m3's name, joined: the network, the
    /// namesake's index, the conflicts reported (by observer) and the observations.
    private func meshWithNamesake(_ n: Int, seed: UInt64, link: SimulatedNetwork.Link = .init())
        -> (SimulatedNetwork, Int, () -> [Int: [NameConflict]], Observations) {
        let net = SimulatedNetwork(count: n, seed: seed, link: link)
        let obs = Observations()
        obs.attach(to: net)
        final class Reports { var byObserver: [Int: [NameConflict]] = [:] }
        let reports = Reports()
        net.onNameConflict = { observer, conflict, _ in reports.byObserver[observer, default: []].append(conflict) }
        net.joinAll()
        XCTAssertNotNil(net.run(until: { net.fullyConverged() }, limit: .seconds(30)))
        net.run(for: .seconds(2))
        let twin = net.addNamesake(of: 3)
        net.join(twin, seeds: [SimulatedNetwork.address(of: 0)])
        return (net, twin, { reports.byObserver }, obs)
    }

    /// Whether every running member but `except` holds both generations of m3 in `states`.
    private func everyoneHoldsBoth(_ net: SimulatedNetwork, _ twin: Int, older: MemberState, newer: MemberState, except: Set<Int> = []) -> Bool {
        let generations = (net.core(3).identity.generation, net.core(twin).identity.generation)
        for j in 0..<net.count where j != 3 && j != twin && !net.isKilled(j) && !except.contains(j) {
            let held = net.core(j).members(named: "m3")
            guard held.count == 2,
                  held.first(where: { $0.identity.generation == generations.0 })?.state == older,
                  held.first(where: { $0.identity.generation == generations.1 })?.state == newer else { return false }
        }
        return true
    }

    func testANameStartedTwiceStaysTwoLiveMembersAndOutlivesTheNewerOnesLeave() {
        let (net, twin, reports, obs) = meshWithNamesake(8, seed: 21)
        let both = net.run(until: { self.everyoneHoldsBoth(net, twin, older: .alive, newer: .alive) }, limit: .seconds(10))
        XCTAssertNotNil(both, "not every member holds both generations of m3")
        print("name started twice: both generations alive everywhere after \(both.map(seconds) ?? -1) s")
        // Every other member reported it, and so did both claimants.
        let reporters = Set(reports().keys)
        XCTAssertTrue(Set(0..<8).subtracting([3]).isSubset(of: reporters), "reported by \(reporters.sorted())")
        XCTAssertTrue(reports().values.joined().allSatisfy { Set($0.members.map(\.address)) == [SimulatedNetwork.address(of: 3), SimulatedNetwork.address(of: twin)] })
        // Each keeps vouching with its own digest.
        let old = net.publishDigest(from: 3, version: 1, endpoints: [])
        let new = net.publishDigest(from: twin, version: 1, endpoints: [])
        // Gossip takes each to almost everyone; state sync to a member every push happened to miss (this seed's
        // member 2 with the older generation's digest).
        let stored = net.run(until: { (0..<8).allSatisfy { $0 == 3 || Set(net.core($0).digests).isSuperset(of: [old, new]) } },
                             limit: GossipSettings().syncInterval * 2)
        XCTAssertNotNil(stored, "both digests are not stored everywhere")
        // Steady: nobody is suspected or declared dead while both run.
        let incarnations = (net.core(3).incarnation, net.core(twin).incarnation)
        let bytes = net.bytesSent.reduce(0, +)
        net.run(for: .seconds(20))
        print("name started twice, 20 s steady: the older re-asserted \(net.core(3).incarnation - incarnations.0) times, the newer "
              + "\(net.core(twin).incarnation - incarnations.1); \((net.bytesSent.reduce(0, +) - bytes) / 20 / UInt64(net.count)) B/s per member")
        XCTAssertLessThanOrEqual(net.core(3).incarnation - incarnations.0, 10, "re-assertions are rate-limited")
        XCTAssertTrue(everyoneHoldsBoth(net, twin, older: .alive, newer: .alive))
        XCTAssertTrue(obs.changes.filter { $0.member.name == "m3" && ($0.member.state == .dead || $0.member.state == .suspect) }.isEmpty)
        // The claimants themselves learn of each other (from gossip, or at the latest from their next state sync).
        XCTAssertTrue(reports().keys.contains(3) && reports().keys.contains(twin), "the claimants know too: \(reports().keys.sorted())")
        // The newer one leaves and stops: the older one stays alive (and vouching) everywhere.
        net.leave(twin)
        net.run(for: .milliseconds(500))
        net.kill(twin)
        XCTAssertNotNil(net.run(until: { self.everyoneHoldsBoth(net, twin, older: .alive, newer: .left) }, limit: .seconds(5)))
        net.run(for: .seconds(20))
        XCTAssertTrue(everyoneHoldsBoth(net, twin, older: .alive, newer: .left))
        XCTAssertTrue(obs.firstSeen("m3", .dead).isEmpty)
        for j in 0..<8 where j != 3 { XCTAssertTrue(net.core(j).digests.contains(old), "member \(j) dropped the older one's digest") }
    }

    func testTheOlderOneKilledIsDeclaredDeadAloneAndTheNewerStaysAlive() {
        let (net, twin, _, obs) = meshWithNamesake(8, seed: 22, link: .init(loss: 0.05))
        XCTAssertNotNil(net.run(until: { self.everyoneHoldsBoth(net, twin, older: .alive, newer: .alive) }, limit: .seconds(15)))
        net.kill(3)
        let dead = net.run(until: { self.everyoneHoldsBoth(net, twin, older: .dead, newer: .alive) }, limit: .seconds(15))
        XCTAssertNotNil(dead)
        print("name started twice, the older one killed: dead (the newer alive) everywhere after \(dead.map(seconds) ?? -1) s")
        net.run(for: .seconds(20))
        XCTAssertTrue(everyoneHoldsBoth(net, twin, older: .dead, newer: .alive))
        XCTAssertTrue(obs.firstSeen("m3", .dead, generation: net.core(twin).identity.generation).isEmpty)
    }

    func testARestartElsewhereWithTheOldProcessGoneReplacesItAtOnceAndIsNoConflict() {
        let net = SimulatedNetwork(count: 8, seed: 23)
        let obs = Observations()
        obs.attach(to: net)
        var reported: [NameConflict] = []
        net.onNameConflict = { _, conflict, _ in reported.append(conflict) }
        net.joinAll()
        XCTAssertNotNil(net.run(until: { net.fullyConverged() }, limit: .seconds(30)))
        net.run(for: .seconds(2))
        let oldGeneration = net.core(3).identity.generation
        net.kill(3)
        let killedAt = net.elapsed
        // The pod comes back on another node: same name, new address, new generation.
        let successor = net.addNamesake(of: 3)
        net.join(successor, seeds: [SimulatedNetwork.address(of: 0)])
        let newGeneration = net.core(successor).identity.generation
        let known = net.run(until: {
            (0..<8).allSatisfy { $0 == 3 || net.core($0).members(named: "m3").map(\.identity.generation) == [newGeneration] }
        }, step: .milliseconds(5), limit: .seconds(5))
        XCTAssertNotNil(known)
        if let known { XCTAssertLessThanOrEqual(known, .seconds(1)) }
        print("restart at a new address: new generation alone everywhere after \(known.map(seconds) ?? -1) s")
        net.run(for: .seconds(20))
        for j in 0..<8 where j != 3 {
            XCTAssertEqual(net.core(j).members(named: "m3").map(\.identity.generation), [newGeneration], "member \(j)")
        }
        XCTAssertTrue(reported.isEmpty, "\(reported)")
        XCTAssertTrue(obs.changes.filter { $0.member.name == "m3" && $0.member.identity.generation == oldGeneration && $0.at > killedAt && $0.member.state.isActive }.isEmpty,
                      "the predecessor never comes back")
    }
}
