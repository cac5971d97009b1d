import XCTest
import Gossip
import GossipSimulation
import Wire

/// A member cut off from the whole mesh (the isolate-gateway drill: a gateway whose gossip is cut) against a cluster
/// that really fails, on the demo's shape: two clusters of three agents (c0 is m0, m2, m4; c1 is m1, m3, m5) and a
/// gateway-like seventh member m6 in c0.
///
/// Cut off, m6 suspects the members it probes one by one, cluster by cluster. Its table must not take that for one
/// cluster failing before the other: its suspicions are doubtful (no one answered, not even a helper's nack), and
/// two probes in a row that no one answered make it cut off, so the gateway fails static. When a cluster fails,
/// the helpers of the other cluster answer with nacks: its suspicions are evidence, and it is never cut off.
final class CutOffTests: XCTestCase {
    static let gateway = 6

    /// m6's view as the gateway's table reads it: per member, whether it still counts (alive, or suspect or dead
    /// on m6's doubtful word).
    final class GatewayView {
        var counts: [String: Bool] = [:]
        var cutOff: [(Bool, Duration)] = []
        /// Each moment a cluster stopped counting in the view: (cluster, when).
        var lost: [(Int, Duration)] = []
        /// Suspicions m6 raised that were not doubtful, and when.
        var credible: [(String, Duration)] = []

        func note(_ member: MemberSnapshot, at: Duration) {
            let cluster = Int(member.name.dropFirst())! % 2
            let before = clusterCounts(cluster)
            counts[member.name] = member.state == .alive || member.doubtful
            if member.state == .suspect, !member.doubtful { credible.append((member.name, at)) }
            if before, !clusterCounts(cluster) { lost.append((cluster, at)) }
        }

        func clusterCounts(_ cluster: Int) -> Bool {
            (0..<6).filter { $0 % 2 == cluster }.contains { counts[SimulatedNetwork.name(of: $0)] ?? true }
        }
    }

    func watch(_ net: SimulatedNetwork) -> GatewayView {
        let view = GatewayView()
        net.onEvent = { event in
            switch event {
            case .memberChanged(let observer, let member, _, let at) where observer == Self.gateway:
                view.note(member, at: at)
            case .cutOff(let observer, let cut, let at) where observer == Self.gateway:
                view.cutOff.append((cut, at))
            default: break
            }
        }
        return view
    }

    /// The demo's mesh formed and settled, with m6's view watched.
    func formedMesh(_ settings: GossipSettings, seed: UInt64) -> (SimulatedNetwork, GatewayView) {
        let net = SimulatedNetwork(count: 7, settings: settings, seed: seed)
        net.encodePackets = false
        let view = watch(net)
        net.joinAll(seeds: [0, 1])
        XCTAssertNotNil(net.run(until: { net.fullyConverged() }, limit: .seconds(30)), "seed \(seed): the mesh never formed")
        net.run(for: settings.probeInterval * 6)
        return (net, view)
    }

    func testACutOffGatewayDoubtsItsSuspicionsAndKnowsItIsCutOff() {
        let settings = GossipSettings(profile: .lan)
        for seed in UInt64(1)...8 {
            let (net, view) = formedMesh(settings, seed: seed)
            let cutAt = net.elapsed
            net.partition([[Self.gateway], Array(0..<6)])
            net.run(for: .seconds(20))
            let cut = view.cutOff.first { $0.0 && $0.1 >= cutAt }
            XCTAssertNotNil(cut, "seed \(seed): never knew it was cut off")
            guard let cutOffAt = cut?.1 else { continue }
            let after = seconds(cutOffAt - cutAt)
            print("seed \(seed): cut off \(after) s after the cut; credible suspicions \(view.credible.count), clusters lost \(view.lost.count)")
            // Four probe periods: the probe under way at the cut, then two unanswered ones stretched by Lifeguard.
            XCTAssertLessThan(after, seconds(settings.probeInterval) * 6, "seed \(seed)")
            XCTAssertTrue(view.credible.filter { $0.1 >= cutAt }.isEmpty, "seed \(seed): \(view.credible)")
            // Every member dies on m6's doubtful word meanwhile; healed, m6 hears answers again, the members refute,
            // and no cluster ever left its table.
            net.heal()
            XCTAssertNotNil(net.run(until: { view.cutOff.last?.0 == false }, limit: settings.probeInterval * 20),
                            "seed \(seed): still cut off after the heal")
            XCTAssertNotNil(net.run(until: { net.fullyConverged() }, limit: .seconds(30)), "seed \(seed): never merged")
            net.run(for: .seconds(10))
            XCTAssertTrue(view.lost.filter { $0.1 >= cutAt }.isEmpty, "seed \(seed): a cluster left the table: \(view.lost)")
        }
    }

    /// A cluster that really fails while the gateway is cut off leaves its table soon after the heal: its deaths
    /// were doubtful, and the doubt ends with the others' verdicts or, at the latest, a doubt window after the heal.
    func testAClusterThatFailedDuringTheCutLeavesTheTableAfterTheHeal() {
        let settings = GossipSettings(profile: .lan)
        for seed in UInt64(1)...8 {
            let (net, view) = formedMesh(settings, seed: seed)
            net.partition([[Self.gateway], Array(0..<6)])
            net.run(for: .seconds(1))
            for i in [1, 3, 5] { net.kill(i) }
            net.run(for: .seconds(15))
            XCTAssertTrue(view.clusterCounts(1), "seed \(seed): c1 counts while the gateway is cut off (it fails static)")
            net.heal()
            let gone = net.run(until: { !view.clusterCounts(1) }, step: .milliseconds(5), limit: .seconds(15))
            XCTAssertNotNil(gone, "seed \(seed): the failed cluster stayed in the table after the heal")
            net.run(for: .seconds(10))
            XCTAssertTrue(view.clusterCounts(0), "seed \(seed): the live cluster left the table")
            guard let gone else { continue }
            print("seed \(seed): c1 out of the gateway's table \(seconds(gone)) s after the heal")
            // In touch again once a member refutes the verdict it heard from us (or our stretched probes are answered),
            // then the doubt window (2.5 s here) and a period: 2.55-5.75 s over these seeds.
            let bound = GossipFormulas.staleViewWindow(settings: settings, n: 7) + settings.deadProbeInterval * 2
            XCTAssertLessThan(gone, bound, "seed \(seed)")
        }
    }

    func testAFailedClusterIsEvidenceAndTheGatewayIsNotCutOff() {
        let settings = GossipSettings(profile: .lan)
        for seed in UInt64(1)...8 {
            let (net, view) = formedMesh(settings, seed: seed)
            for i in [1, 3, 5] { net.kill(i) }
            let gone = net.run(until: { !view.clusterCounts(1) }, step: .milliseconds(5), limit: .seconds(10))
            XCTAssertNotNil(gone, "seed \(seed): c1 never left the gateway's table")
            net.run(for: .seconds(10))
            XCTAssertTrue(view.cutOff.isEmpty, "seed \(seed): a failing cluster made the gateway think itself cut off")
            XCTAssertTrue(view.clusterCounts(0), "seed \(seed): the live cluster left the table")
            guard let gone else { continue }
            print("seed \(seed): c1 out of the gateway's table \(seconds(gone)) s after the kill")
            // The same seeds, with every suspicion taken as evidence (as before doubt): 0.82-1.33 s. Doubt never
            // delays a failover the helpers' nacks vouch for.
            XCTAssertLessThan(seconds(gone), 1.5, "seed \(seed)")
        }
    }
}
