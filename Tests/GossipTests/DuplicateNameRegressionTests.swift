import SeededRandom
import XCTest
import Gossip
import MeshCrypto
import Wire

/// Issue 9, as reported, in the API that existed before the fix (so that it runs against both): a node name
/// started twice, the newer process leaves, and the older one, still running and answering, must stay alive.
final class DuplicateNameRegressionTests: XCTestCase {
    let key = try! SigningKeyPair(seed: [UInt8](repeating: 1, count: 32))
    let start = ContinuousClock.now
    var rng = SplitMix64(seed: 5)
    let wall: UInt64 = 1_800_000_000_000

    func address(_ i: UInt32) -> PeerAddress { PeerAddress(host: .v4(0x7F00_0000 | i), port: 7946) }

    func record(_ name: String, generation: UInt64, at i: UInt32, leaving: Bool = false) -> SignedMemberRecord {
        var core = GossipCore(identity: MemberIdentity(name: name, cluster: "c1", generation: generation), address: address(i),
                              signer: key, verifier: RecordVerifier(roster: TrustRoster(["c1": [key.publicKey]])))
        if leaving { _ = core.leave(now: start, rng: &rng) }
        return core.ownRecord
    }

    func testTheOlderOfTwoProcessesUnderOneNameStaysAliveWhenTheNewerLeaves() {
        var gateway = GossipCore(identity: MemberIdentity(name: "gw", cluster: "", generation: 1), address: address(1),
                                 signer: nil, verifier: RecordVerifier(roster: TrustRoster(["c1": [key.publicKey]])))
        _ = gateway.join(seeds: [], now: start, wallClockMillis: wall, rng: &rng)
        _ = gateway.onPacket([.member(record("a", generation: 5, at: 2))], from: address(2), now: start, wallClockMillis: wall, rng: &rng)
        // The same name started again elsewhere, while a#5 keeps running: it answers every ping addressed to it.
        var t = Duration.milliseconds(1)
        var pending = gateway.onPacket([.member(record("a", generation: 6, at: 3))], from: address(3), now: start + t,
                                       wallClockMillis: wall, rng: &rng)
        for _ in 0..<100 {
            t += .milliseconds(10)
            pending += gateway.onTick(now: start + t, wallClockMillis: wall, rng: &rng)
            var answers: [GossipMessage] = []
            for case .send(let messages, let to, _) in pending where to == address(2) {
                for case .ping(let ping) in messages where ping.targetGeneration == 5 || ping.targetGeneration == 0 {
                    answers.append(.ack(Ack(sequence: ping.sequence, source: "a")))
                }
            }
            pending = answers.isEmpty ? [] : gateway.onPacket(answers, from: address(2), now: start + t, wallClockMillis: wall, rng: &rng)
        }
        // The newer one leaves.
        _ = gateway.onPacket([.member(record("a", generation: 6, at: 3, leaving: true))], from: address(3), now: start + t,
                             wallClockMillis: wall, rng: &rng)
        let older = gateway.members.filter { $0.name == "a" && $0.identity.generation == 5 }
        XCTAssertEqual(older.map(\.state), [.alive], "a#5 still runs and answers, but the gateway holds: \(gateway.members)")
    }
}
