import SeededRandom
import XCTest
import Gossip
import GossipSimulation
import MeshCrypto
import Wire

/// Tombstones in state sync (issue 9): a member that joins after a death learns it, so that a replayed alive
/// record of the dead generation cannot revive it there.
final class TombstoneSyncTests: XCTestCase {
    let key = try! SigningKeyPair(seed: [UInt8](repeating: 1, count: 32))
    var roster: TrustRoster { TrustRoster(["c1": [key.publicKey]]) }
    let start = ContinuousClock.now
    var rng = SplitMix64(seed: 3)
    let wall: UInt64 = 1_800_000_000_000

    func address(_ i: UInt32) -> PeerAddress { PeerAddress(host: .v4(0x7F00_0000 | i), port: 7946) }

    func makeCore(_ name: String, at i: UInt32, settings: GossipSettings = GossipSettings()) -> GossipCore {
        GossipCore(identity: MemberIdentity(name: name, cluster: "c1", generation: 1), address: address(i), settings: settings,
                   signer: key, verifier: RecordVerifier(roster: roster))
    }

    /// a, which has seen `dead` members die (declared dead at incarnation 0).
    func witness(of dead: Int) -> (GossipCore, [SignedMemberRecord]) {
        var a = makeCore("a", at: 1)
        _ = a.join(seeds: [], now: start, wallClockMillis: wall, rng: &rng)
        var records: [SignedMemberRecord] = []
        for i in 0..<dead {
            let record = makeCore("d\(i)", at: UInt32(100 + i)).ownRecord
            records.append(record)
            _ = a.onPacket([.member(record), .accusation(Accusation(kind: .dead, target: "d\(i)", generation: 1, incarnation: 0, accuser: "x"))],
                           from: address(2), now: start, wallClockMillis: wall, rng: &rng)
        }
        return (a, records)
    }

    func testAJoinerLearnsADeathInStateSyncAndRejectsAReplayedAliveRecord() {
        let (a, records) = witness(of: 1)
        var a2 = a
        XCTAssertEqual(a2.member(named: "d0")?.state, .dead)
        var joiner = makeCore("j", at: 3)
        _ = joiner.join(seeds: [address(1)], now: start, wallClockMillis: wall, rng: &rng)
        let (reply, _) = a2.onStateSync(joiner.stateSyncRequest(), from: address(3), now: start + .milliseconds(1), wallClockMillis: wall, rng: &rng)
        XCTAssertTrue(reply.contains(.member(records[0])), "the dead member's own signed record")
        XCTAssertTrue(reply.contains(.accusation(Accusation(kind: .dead, target: "d0", generation: 1, incarnation: 0, accuser: "a"))))
        let (_, learned) = joiner.onStateSync(reply, from: address(1), now: start + .milliseconds(2), wallClockMillis: wall, rng: &rng)
        XCTAssertEqual(joiner.member(named: "d0")?.state, .dead)
        let seen = learned.compactMap { if case .memberChanged(let m, _) = $0, m.name == "d0" { return m.state } else { return nil } }
        XCTAssertEqual(seen, [.dead], "stored dead at once, never alive for an instant")
        // The replay: the dead generation's alive record, as relayed by a member that has not heard yet.
        let replay = joiner.onPacket([.member(records[0])], from: address(9), now: start + .milliseconds(3), wallClockMillis: wall, rng: &rng)
        XCTAssertEqual(joiner.member(named: "d0")?.state, .dead)
        XCTAssertFalse(replay.contains { if case .memberChanged = $0 { return true } else { return false } })
        // A true refutation (a newer incarnation, which only the living member can sign) still revives it.
        var d0 = makeCore("d0", at: 100)
        _ = d0.onPacket([.accusation(Accusation(kind: .dead, target: "d0", generation: 1, incarnation: 0, accuser: "a"))],
                        from: address(1), now: start, wallClockMillis: wall, rng: &rng)
        _ = joiner.onPacket([.member(d0.ownRecord)], from: address(100), now: start + .milliseconds(4), wallClockMillis: wall, rng: &rng)
        XCTAssertEqual(joiner.member(named: "d0")?.state, .alive)
    }

    func testTombstonesAreSentOnlyToPeersThatLackThemAndNeverPassedOnTwice() {
        var (a, _) = witness(of: 200)
        var joiner = makeCore("j", at: 3)
        let (reply, _) = a.onStateSync(joiner.stateSyncRequest(), from: address(3), now: start + .milliseconds(1), wallClockMillis: wall, rng: &rng)
        let bytes = WireEncoding.packetSize(messageSizes: reply.map { WireEncoding.encodedSize(of: $0) })
        print("a joiner's sync reply with 200 tombstones: \(reply.count) messages, \(bytes) bytes (\(bytes / 200) per tombstone)")
        XCTAssertLessThan(bytes, 200 * 200, "about a record and a verdict per tombstone")
        _ = joiner.onStateSync(reply, from: address(1), now: start + .milliseconds(2), wallClockMillis: wall, rng: &rng)
        XCTAssertEqual(joiner.members.filter { $0.state == .dead }.count, 200)
        // Once both hold them, a sync carries none.
        let (again, _) = a.onStateSync(joiner.stateSyncRequest(), from: address(3), now: start + .milliseconds(3), wallClockMillis: wall, rng: &rng)
        XCTAssertFalse(again.contains { if case .accusation = $0 { return true } else { return false } }, "\(again.count) messages")
        // The joiner learned them second hand: it does not pass them on (a tombstone must not bounce between members
        // that forget it at different times and so outlive its time).
        let third = makeCore("t", at: 4)
        let (relayed, _) = joiner.onStateSync(third.stateSyncRequest(), from: address(4), now: start + .milliseconds(4), wallClockMillis: wall, rng: &rng)
        XCTAssertFalse(relayed.contains { if case .accusation = $0 { return true } else { return false } })
    }
}

/// The same on the virtual network: the gateway that starts after a death.
final class TombstoneSyncSimulationTests: XCTestCase {
    func testALateJoinerRejectsAReplayedAliveRecordOfAMemberThatDiedBeforeItJoined() {
        let net = SimulatedNetwork(count: 9, seed: 41)
        let obs = Observations()
        obs.attach(to: net)
        for i in 0..<8 {
            net.join(i, seeds: [SimulatedNetwork.address(of: 0)])
            net.run(for: .milliseconds(10))
        }
        XCTAssertNotNil(net.run(until: { net.fullyConverged(among: Array(0..<8)) }, limit: .seconds(30)))
        let oldRecord = net.core(5).ownRecord
        net.kill(5)
        XCTAssertNotNil(net.run(until: { (0..<8).allSatisfy { $0 == 5 || net.core($0).member(named: "m5")?.state == .dead } }, limit: .seconds(30)))
        // Member 8 (a gateway, say) starts after the death and syncs with a seed.
        net.join(8, seeds: [SimulatedNetwork.address(of: 0)])
        net.run(for: .milliseconds(20))
        XCTAssertEqual(net.core(8).member(named: "m5")?.state, .dead)
        // A replayed alive record of the dead generation reaches it.
        net.inject([.member(oldRecord)], to: 8, from: SimulatedNetwork.address(of: 2))
        net.run(for: .seconds(3))
        let revived = obs.changes.filter { $0.observer == 8 && $0.member.name == "m5" && $0.member.state.isActive }
        XCTAssertTrue(revived.isEmpty, "m5 was alive at the late joiner: \(revived.map { "\($0.member.state) at \(seconds($0.at)) s" })")
        XCTAssertEqual(net.core(8).member(named: "m5")?.state, .dead)
    }
}
