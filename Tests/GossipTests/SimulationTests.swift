import Foundation
import XCTest
import Gossip
import GossipSimulation
import MeshCrypto
import Wire

/// End-to-end protocol scenarios on the virtual network: deterministic, seeded, in virtual time.
final class SimulationTests: XCTestCase {
    private func endpoints(_ count: Int, healthy: Bool = true) -> [EndpointHealth] {
        (0..<count).map {
            EndpointHealth(service: "gateway-demo/service1", host: "10.0.\($0 / 250).\($0 % 250)", port: 8080,
                           state: healthy ? .healthy : .unhealthy)
        }
    }

    private func formedMesh(_ n: Int, seed: UInt64, settings: GossipSettings = GossipSettings(), link: SimulatedNetwork.Link = .init()) -> (SimulatedNetwork, Observations) {
        let net = SimulatedNetwork(count: n, settings: settings, seed: seed, link: link)
        let obs = Observations()
        obs.attach(to: net)
        net.joinAll()
        let converged = net.run(until: { net.fullyConverged() }, limit: .seconds(30))
        XCTAssertNotNil(converged, "the mesh of \(n) never converged")
        return (net, obs)
    }

    func testKilledMemberIsDeclaredDeadByEveryoneWithinTheProfileBound() {
        let n = 20
        let (net, obs) = formedMesh(n, seed: 11)
        net.run(for: .seconds(5))
        net.kill(7)
        let killedAt = net.elapsed
        let bound = GossipFormulas.detectionBound(settings: net.settings, n: n)
        let took = net.run(until: { net.everyoneSees(7, as: .dead) }, limit: bound * 2)
        XCTAssertNotNil(took)
        if let took { XCTAssertLessThanOrEqual(took, bound, "detection \(took) exceeds the lan bound \(bound)") }
        let falseDeaths = obs.changes.filter { $0.member.state == .dead && $0.member.name != "m7" }
        XCTAssertTrue(falseDeaths.isEmpty, "false deaths: \(falseDeaths.map(\.member))")
        let perObserver = obs.firstSeen("m7", .dead).values.map { seconds($0 - killedAt) }.sorted()
        print("lan N=\(n): every survivor saw the kill as dead after \(took.map(seconds) ?? -1) s (median \(perObserver[perObserver.count / 2]) s, bound \(seconds(bound)) s)")
    }

    func testFastProfileDetectsADeadClusterWithinHalfASecond() {
        // Two clusters of four agents each; cluster c1 (the odd members) is killed entirely, five times over.
        let settings = GossipSettings(profile: .fast)
        let bound = GossipFormulas.detectionBound(settings: settings, n: 8)
        var perObserver: [Duration] = []
        var everyoneDead: [Duration] = []
        for seed in UInt64(1)...5 {
            let (net, obs) = formedMesh(8, seed: seed, settings: settings)
            net.run(for: .seconds(2))
            let killedAt = net.elapsed
            for i in [1, 3, 5, 7] { net.kill(i) }
            let allDead = net.run(until: { [1, 3, 5, 7].allSatisfy { net.everyoneSees($0, as: .dead) } },
                                  step: .milliseconds(5), limit: bound * 2)
            XCTAssertNotNil(allDead)
            if let allDead { everyoneDead.append(allDead) }
            // The table stops routing to a cluster once no agent of it is alive: suspect or dead both count.
            for observer in [0, 2, 4, 6] {
                var latest = Duration.zero
                for i in [1, 3, 5, 7] {
                    let seen = obs.changes.filter { $0.observer == observer && $0.member.name == SimulatedNetwork.name(of: i)
                        && $0.member.state != .alive && $0.at >= killedAt }.map(\.at).min()
                    latest = max(latest, (seen ?? .seconds(99)) - killedAt)
                }
                perObserver.append(latest)
            }
        }
        perObserver.sort()
        everyoneDead.sort()
        let median = perObserver[perObserver.count / 2]
        print("fast: a dead cluster is no longer alive for an observer after \(seconds(median)) s median, \(seconds(perObserver.last ?? .zero)) s at worst; dead everywhere after \(seconds(everyoneDead[everyoneDead.count / 2])) s median (bound \(seconds(bound)) s)")
        XCTAssertLessThanOrEqual(median, .milliseconds(300), "issue 10: within 0.3 s at fast")
        XCTAssertLessThanOrEqual(everyoneDead.last ?? .seconds(99), bound)
    }

    func testAWholeClusterKilledIsSearchedRatherThanFoundOneByOne() {
        // 200 members in four clusters of 50; one cluster is killed at once. The round robin alone finds its last
        // member after about ln(50) ≈ 4 periods; every suspicion sends its hearers probing the suspect's siblings at
        // once, and the cluster is gone from every survivor's view within a few periods.
        let (perSurvivor, falseSuspects) = killOneClusterOfFour(workers: 1)
        guard let perSurvivor else { return XCTFail("some survivor still saw a member of the killed cluster alive") }
        let median = perSurvivor[perSurvivor.count / 2]
        print("cluster of 50 killed in a mesh of 200: none alive for a survivor after \(median) s median, \(perSurvivor.last ?? -1) s at worst")
        XCTAssertLessThanOrEqual(median, 2.0, "four periods at lan")
        XCTAssertEqual(falseSuspects, 0, "members of the live clusters were suspected")
    }

    func testNewsOfManyDatagramsSpreadsAsFastAsNewsOfOne() {
        // The cluster of 50 again, with datagrams of 400 bytes: its 50 accusations (about 1.5 kB) take four or five
        // of them, as 1,250 take some thirty of 1,400 bytes in a mesh of 10,000. Pushed one datagram to a member a
        // round (memberlist's way), each went once in several rounds and the last survivors heard late; in a burst
        // of datagrams (`gossipBurst`) each goes about as often as news that fits one datagram.
        func median(budget: Int, burst: Int) -> Double {
            var settings = GossipSettings()
            settings.datagramBudget = budget
            settings.gossipBurst = burst
            let (perSurvivor, falseSuspects) = killOneClusterOfFour(workers: 1, settings: settings)
            XCTAssertEqual(falseSuspects, 0, "budget \(budget), burst \(burst)")
            guard let perSurvivor else {
                XCTFail("budget \(budget), burst \(burst): some survivor still saw a member of the killed cluster alive")
                return .infinity
            }
            return perSurvivor[perSurvivor.count / 2]
        }
        let whole = median(budget: 1_400, burst: 16)
        let single = median(budget: 400, burst: 1)
        let burst = median(budget: 400, burst: 16)
        print("cluster of 50 killed in a mesh of 200, none alive for a survivor, median: \(whole) s in datagrams of 1,400 bytes; "
              + "in datagrams of 400, \(single) s one a member a round, \(burst) s in bursts")
        XCTAssertLessThan(burst, single, "a burst spreads a backlog faster than one datagram a round")
        XCTAssertLessThanOrEqual(burst, whole + 0.1, "news of several datagrams spreads about as fast as news of one")
    }

    func testLanProfileFindsADeadClusterOfThreeInAboutThreePeriods() {
        // The demo's shape: two clusters of three agents and a gateway-like seventh member; c1 (members 1, 3, 5)
        // is killed, twenty times over. Per surviving observer, the time until no member of c1 is alive in its view:
        // when a gateway stops routing there. Measured: 1.0 s median with the searches' probes sent direct and
        // indirect at once (1.035 s over 80 seeds; 1.18 s when they waited a period, 2.09 s with the round robin
        // alone); issue 10 aims at 1.0 s at lan.
        var perObserver: [Duration] = []
        for seed in UInt64(1)...20 {
            let (net, obs) = formedMesh(7, seed: seed)
            net.run(for: .seconds(3))
            let killedAt = net.elapsed
            let victims = [1, 3, 5]
            for i in victims { net.kill(i) }
            net.run(for: .seconds(6))
            for observer in [0, 2, 4, 6] {
                let latest = victims.map { i in
                    obs.changes.filter { $0.observer == observer && $0.member.name == SimulatedNetwork.name(of: i)
                        && $0.member.state != .alive && $0.at >= killedAt }.map(\.at).min().map { $0 - killedAt } ?? .seconds(99)
                }.max() ?? .seconds(99)
                perObserver.append(latest)
            }
        }
        perObserver.sort()
        let median = perObserver[perObserver.count / 2]
        print("lan: a dead cluster of 3 is no longer alive for an observer after \(seconds(median)) s median, \(seconds(perObserver[perObserver.count * 9 / 10])) s p90, \(seconds(perObserver.last ?? .zero)) s at worst")
        XCTAssertLessThanOrEqual(median, .milliseconds(1_100), "issue 10 aims at 1.0 s at lan; 1.18 s before the searches sped up")
    }

    func testPausedMemberThatResumesInTimeRefutesAndIsNeverDeclaredDead() {
        let (net, obs) = formedMesh(10, seed: 3)
        net.run(for: .seconds(3))
        net.pause(4)
        let suspected = net.run(until: { (0..<10).contains { $0 != 4 && net.core($0).member(named: "m4")?.state == .suspect } },
                                step: .milliseconds(5), limit: .seconds(10))
        XCTAssertNotNil(suspected, "nobody suspected the paused member")
        net.resume(4)
        net.run(for: .seconds(30))
        XCTAssertTrue(obs.firstSeen("m4", .dead).isEmpty, "the paused member was declared dead")
        XCTAssertTrue(net.everyoneSees(4, as: .alive))
        XCTAssertGreaterThan(net.core(4).incarnation, 0, "the member refuted by raising its incarnation")
    }

    func testTenPercentLossForTenMinutesDeclaresNoOneDead() {
        let n = 50
        let net = SimulatedNetwork(count: n, seed: 21, link: .init(loss: 0.1))
        net.encodePackets = false
        let obs = Observations()
        obs.attach(to: net)
        net.joinAll()
        XCTAssertNotNil(net.run(until: { net.fullyConverged() }, limit: .seconds(60)))
        net.run(for: .seconds(600))
        let deaths = obs.changes.filter { $0.member.state == .dead }
        XCTAssertTrue(deaths.isEmpty, "false deaths under 10% loss: \(deaths.prefix(5).map { "\($0.observer): \($0.member)" })")
        let suspicions = obs.changes.filter { $0.member.state == .suspect }.count
        XCTAssertTrue(net.fullyConverged())
        print("10% loss, N=\(n), 600 s: \(suspicions) suspicions raised and refuted, 0 deaths")
    }

    func testTwentyMinutePartitionHealsIntoOneViewWithinSeconds() {
        let n = 20
        let (net, _) = formedMesh(n, seed: 9)
        net.encodePackets = false
        net.run(for: .seconds(3))
        let a = Array(0..<(n / 2)), b = Array((n / 2)..<n)
        net.partition([a, b])
        net.run(for: .seconds(20 * 60))
        // Each half has declared the other dead.
        XCTAssertEqual(net.core(0).member(named: SimulatedNetwork.name(of: n - 1))?.state, .dead)
        XCTAssertTrue(net.fullyConverged(among: a) && net.fullyConverged(among: b))
        net.heal()
        let merged = net.run(until: { net.fullyConverged() }, step: .milliseconds(50), limit: .seconds(60))
        XCTAssertNotNil(merged, "the halves never merged")
        if let merged { XCTAssertLessThanOrEqual(merged, .seconds(10)) }
        print("20-minute partition of \(n): one view again \(merged.map(seconds) ?? -1) s after healing")
    }

    func testRestartedMemberIsAliveEverywhereAtOnce() {
        let (net, obs) = formedMesh(10, seed: 4)
        net.run(for: .seconds(2))
        let oldGeneration = net.core(6).identity.generation
        let oldRecord = net.core(6).ownRecord
        net.kill(6)
        net.restart(6, seeds: [SimulatedNetwork.address(of: 0)])
        let newGeneration = net.core(6).identity.generation
        XCTAssertGreaterThan(newGeneration, oldGeneration)
        let known = net.run(until: {
            (0..<10).allSatisfy { $0 == 6 || net.core($0).member(named: "m6")?.identity.generation == newGeneration }
        }, step: .milliseconds(5), limit: .seconds(5))
        XCTAssertNotNil(known)
        if let known { XCTAssertLessThanOrEqual(known, .seconds(1)) }
        // The predecessor's records can neither revive it nor kill the successor.
        net.inject([.member(oldRecord),
                    .accusation(Accusation(kind: .dead, target: "m6", generation: oldGeneration, incarnation: 99, accuser: "m1"))],
                   to: 2, from: SimulatedNetwork.address(of: 1))
        net.run(for: .seconds(20))
        XCTAssertTrue(net.everyoneSees(6, as: .alive))
        XCTAssertTrue((0..<10).allSatisfy { $0 == 6 || net.core($0).member(named: "m6")?.identity.generation == newGeneration })
        XCTAssertTrue(obs.firstSeen("m6", .dead, generation: newGeneration).isEmpty)
        print("restart: new generation known everywhere after \(known.map(seconds) ?? -1) s")
    }

    func testRestartAfterBeingDeclaredDeadIsAcceptedAtOnce() {
        let (net, _) = formedMesh(8, seed: 14)
        net.run(for: .seconds(2))
        net.kill(2)
        XCTAssertNotNil(net.run(until: { net.everyoneSees(2, as: .dead) }, limit: .seconds(30)))
        net.restart(2, seeds: [SimulatedNetwork.address(of: 0)])
        let back = net.run(until: { net.everyoneSees(2, as: .alive) }, step: .milliseconds(5), limit: .seconds(5))
        XCTAssertNotNil(back)
        if let back { XCTAssertLessThanOrEqual(back, .seconds(1)) }
    }

    func testDigestReachesEveryMemberOfAThousandMemberMesh() {
        let n = 1000
        let net = SimulatedNetwork(count: n, seed: 1000, clusters: 4, crypto: .checksum, encodePackets: false)
        net.countSyncBytes = false
        let obs = Observations()
        obs.recordChanges = false
        obs.attach(to: net)
        net.bootstrapFullView()
        net.run(for: .seconds(1))
        let digest = net.publishDigest(from: 17, version: 1, endpoints: endpoints(4))
        let took = net.run(until: { obs.accepted.filter { $0.digest == digest }.count >= n }, step: .milliseconds(20), limit: .seconds(10))
        XCTAssertNotNil(took, "only \(obs.accepted.filter { $0.digest == digest }.count) of \(n) hold the digest")
        let times = obs.accepted.filter { $0.digest == digest }.map(\.at).sorted()
        if times.count >= n {
            let p999 = seconds(times[Int(Double(n) * 0.999) - 1] - times[0])
            print("N=1000: 99.9% hold the digest after \(p999) s, all after \(seconds(times[n - 1] - times[0])) s")
            XCTAssertLessThanOrEqual(p999, 2.0)
        }
    }

    func testForgedAndReplayedDigestsReachNoOne() {
        let (net, obs) = formedMesh(12, seed: 8)
        let v1 = net.publishDigest(from: 1, version: 1, endpoints: endpoints(3))
        net.run(for: .seconds(3))
        let v2 = net.publishDigest(from: 1, version: 2, endpoints: endpoints(3, healthy: false))
        net.run(for: .seconds(3))
        XCTAssertTrue((0..<12).allSatisfy { net.core($0).digest(from: "m1") == v2 })

        // A replay of the older digest.
        net.inject([.digest(v1)], to: 5, from: SimulatedNetwork.address(of: 3))
        // A newer version signed with another cluster's key (m0 is in cluster c0, m1 in c1).
        var forged = v2.digest
        forged = HealthDigest(origin: forged.origin, incarnation: forged.incarnation, version: 3,
                              issuedAtMillis: net.wallClockMillis, endpoints: endpoints(3))
        let otherKey = net.signer(ofCluster: 0)
        let wrongKey = SignedDigest(digest: forged, keyID: otherKey.keyID, signature: otherKey.sign(WireEncoding.signedBytes(of: forged)))
        // The right key id with a signature over different content (tampered endpoints).
        let tampered = SignedDigest(digest: forged, keyID: v2.keyID, signature: v2.signature)
        // A cluster nobody trusts.
        var stranger = forged
        stranger.origin.cluster = "c9"
        let unknown = SignedDigest(digest: stranger, keyID: otherKey.keyID, signature: otherKey.sign(WireEncoding.signedBytes(of: stranger)))
        // A timestamp an hour ahead, properly signed by its cluster.
        let future = HealthDigest(origin: forged.origin, incarnation: forged.incarnation, version: 4,
                                  issuedAtMillis: net.wallClockMillis + 3_600_000, endpoints: endpoints(1))
        let futureSigned = SignedDigest(digest: future, keyID: v2.keyID, signature: net.signer(ofCluster: 1).sign(WireEncoding.signedBytes(of: future)))
        for target in [4, 5, 6] {
            net.inject([.digest(wrongKey), .digest(tampered), .digest(unknown), .digest(futureSigned)], to: target, from: PeerAddress(host: .v4(0x7F00_00FE), port: 9))
        }
        net.run(for: .seconds(5))
        XCTAssertTrue((0..<12).allSatisfy { net.core($0).digest(from: "m1") == v2 }, "a forged or replayed digest was stored")
        let reasons = Set(obs.rejected.map(\.rejection.reason))
        XCTAssertEqual(reasons, ["untrusted_key", "bad_signature", "unknown_cluster", "future_timestamp"])
        XCTAssertEqual(obs.rejected.count, 12, "each forgery is refused where injected and never relayed")
    }

    func testDigestLargerThanADatagramPropagatesByStateSync() {
        let (net, _) = formedMesh(12, seed: 12)
        let big = net.publishDigest(from: 2, version: 1, endpoints: endpoints(120))
        XCTAssertGreaterThan(WireEncoding.encodedSize(of: .digest(big)), WireEncoding.datagramBudget)
        let took = net.run(until: { (0..<12).allSatisfy { net.core($0).digest(from: "m2") == big } }, limit: .seconds(10))
        XCTAssertNotNil(took)
        print("a \(WireEncoding.encodedSize(of: .digest(big)))-byte digest reached all 12 after \(took.map(seconds) ?? -1) s")
    }

    func testJoiningMemberCatchesUpInOneRoundTrip() {
        let net = SimulatedNetwork(count: 9, seed: 19)
        let obs = Observations()
        obs.attach(to: net)
        for i in 0..<8 {
            net.join(i, seeds: [SimulatedNetwork.address(of: 0)])
            net.run(for: .milliseconds(10))
        }
        XCTAssertNotNil(net.run(until: { net.fullyConverged(among: Array(0..<8)) }, limit: .seconds(30)))
        var published: [SignedDigest] = []
        for i in 0..<8 { published.append(net.publishDigest(from: i, version: 1, endpoints: endpoints(2))) }
        net.run(for: .seconds(3))
        net.join(8, seeds: [SimulatedNetwork.address(of: 3)])
        // One round trip on 1 ms ± 0.5 ms links, as a stream (request and reply): well under 10 ms.
        net.run(for: .milliseconds(10))
        XCTAssertEqual(Set(net.core(8).digests), Set(published))
        XCTAssertEqual(net.core(8).members.filter { $0.state == .alive }.count, 8)
    }

    func testGracefulLeaveIsSeenAsLeftNotDead() {
        let (net, obs) = formedMesh(10, seed: 6)
        net.run(for: .seconds(2))
        net.leave(5)
        let left = net.run(until: { net.everyoneSees(5, as: .left) }, step: .milliseconds(5), limit: .seconds(3))
        XCTAssertNotNil(left)
        net.kill(5)
        net.run(for: .seconds(20))
        XCTAssertTrue(net.everyoneSees(5, as: .left))
        XCTAssertTrue(obs.firstSeen("m5", .dead).isEmpty)
    }

    func testDigestOfADeadMemberIsStillStoredWhenNewer() {
        let (net, _) = formedMesh(6, seed: 2)
        net.kill(3)
        XCTAssertNotNil(net.run(until: { net.everyoneSees(3, as: .dead) }, limit: .seconds(30)))
        let core3 = net.core(3)
        let digest = HealthDigest(origin: core3.identity, incarnation: 0, version: 7, issuedAtMillis: net.wallClockMillis, endpoints: [])
        let signer = net.signer(ofCluster: 1)
        let signed = SignedDigest(digest: digest, keyID: signer.keyID, signature: signer.sign(WireEncoding.signedBytes(of: digest)))
        net.inject([.digest(signed)], to: 0, from: SimulatedNetwork.address(of: 3))
        net.run(for: .seconds(2))
        XCTAssertTrue([0, 1, 2, 4, 5].allSatisfy { net.core($0).digest(from: "m3") == signed })
    }

    func testSameSeedGivesTheSameRun() {
        func run() -> [UInt64] {
            let net = SimulatedNetwork(count: 8, seed: 77, link: .init(loss: 0.05))
            net.joinAll()
            net.run(for: .seconds(10))
            net.kill(2)
            net.run(for: .seconds(10))
            return net.bytesSent
        }
        XCTAssertEqual(run(), run())
    }
}

/// Counts signature checks, to prove that a record is verified once, not at every hop.
final class CountingVerifier: SignatureVerifier, @unchecked Sendable {
    private let lock = NSLock()
    private var calls = 0
    private let inner = Ed25519Verifier()
    var count: Int { lock.withLock { calls } }
    func isValid(signature: [UInt8], of message: [UInt8], by key: PublicKey) -> Bool {
        lock.withLock { calls += 1 }
        return inner.isValid(signature: signature, of: message, by: key)
    }
}

final class StoreAndTombstoneTests: XCTestCase {
    func testEachRecordIsVerifiedOnceNotAtEveryHop() {
        let counter = CountingVerifier()
        let net = SimulatedNetwork(count: 12, seed: 31, signatureVerifier: counter)
        net.joinAll()
        XCTAssertNotNil(net.run(until: { net.fullyConverged() }, limit: .seconds(30)))
        // m4's digest, handed to m0 from outside, so that no memo knows it yet.
        let signer = net.signer(ofCluster: 0)
        let d = HealthDigest(origin: net.core(4).identity, incarnation: 0, version: 1, issuedAtMillis: net.wallClockMillis, endpoints: [])
        let digest = SignedDigest(digest: d, keyID: signer.keyID, signature: signer.sign(WireEncoding.signedBytes(of: d)))
        let before = counter.count
        net.inject([.digest(digest)], to: 0, from: SimulatedNetwork.address(of: 4))
        net.run(for: .seconds(3))
        XCTAssertTrue((0..<12).allSatisfy { $0 == 4 || net.core($0).digest(from: "m4") == digest })
        // The simulation shares one memo between its members; each NIO service has its own, so there it is one
        // check per member rather than one per copy received.
        XCTAssertEqual(counter.count - before, 1, "11 holders, dozens of copies, one Ed25519 check")
    }

    func testDigestArrivalOrderNeverMatters() {
        let net = SimulatedNetwork(count: 3, seed: 5)
        net.joinAll()
        net.run(for: .seconds(2))
        // Versions 1…3 of m1's digest, made without publishing them.
        let signer = net.signer(ofCluster: 1)
        let core1 = net.core(1)
        let versions = (1...3).map { v -> SignedDigest in
            let d = HealthDigest(origin: core1.identity, incarnation: 0, version: UInt64(v), issuedAtMillis: net.wallClockMillis, endpoints: [])
            return SignedDigest(digest: d, keyID: signer.keyID, signature: signer.sign(WireEncoding.signedBytes(of: d)))
        }
        let orders = [[0, 1, 2], [2, 1, 0], [1, 2, 0], [2, 0, 1]]
        for order in orders {
            let fresh = SimulatedNetwork(count: 3, seed: 5)
            fresh.joinAll()
            fresh.run(for: .seconds(2))
            for i in order { fresh.inject([.digest(versions[i])], to: 0, from: SimulatedNetwork.address(of: 2)) }
            fresh.run(for: .milliseconds(100))
            XCTAssertEqual(fresh.core(0).digest(from: "m1"), versions[2], "arrival order \(order)")
        }
    }

    func testTombstonesAreForgottenAfterTheirTimeAndBoundedInNumber() {
        var settings = GossipSettings()
        settings.tombstoneTime = .seconds(60)
        settings.maxTombstones = 2
        let net = SimulatedNetwork(count: 8, settings: settings, seed: 17, encodePackets: false)
        net.joinAll()
        XCTAssertNotNil(net.run(until: { net.fullyConverged() }, limit: .seconds(30)))
        for victim in [5, 6, 7] { net.kill(victim) }
        // Each survivor holds each victim dead, or has already dropped it as one tombstone too many.
        func settled(_ victim: Int) -> Bool {
            (0...4).allSatisfy { j in
                let state = net.core(j).member(named: SimulatedNetwork.name(of: victim))?.state
                return state == nil || state == .dead
            }
        }
        XCTAssertNotNil(net.run(until: { [5, 6, 7].allSatisfy(settled) }, limit: .seconds(30)))
        net.run(for: .seconds(5))
        XCTAssertLessThanOrEqual(net.core(0).members.filter { $0.state == .dead }.count, 2, "at most maxTombstones are kept")
        net.run(for: .seconds(70))
        XCTAssertTrue(net.core(0).members.allSatisfy { $0.state == .alive }, "tombstones expire after tombstoneTime")
        XCTAssertEqual(net.core(0).members.count, 4)
    }
}
