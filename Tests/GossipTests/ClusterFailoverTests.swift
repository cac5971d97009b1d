import XCTest
import Gossip
import GossipSimulation
import Wire

/// The demo's shape (two clusters of three agents and a gateway-like seventh member, m0…m6, cluster = i mod 2):
/// loss alone must never take a live cluster out of a view, however eagerly a suspicion searches its cluster.
final class ClusterFailoverTests: XCTestCase {
    /// Counts, per observer and cluster, the moments at which no member of a live cluster was alive in its view:
    /// when a gateway would move that cluster's traffic away.
    final class ClusterViews {
        var views: [Int: [String: MemberState]] = [:]
        var outages: [(observer: Int, cluster: Int, at: Duration)] = []

        func note(observer: Int, member: MemberSnapshot, at: Duration) {
            let cluster = Int(member.name.dropFirst())! % 2
            let was = down(observer, cluster)
            views[observer, default: [:]][member.name] = member.state
            if !was, down(observer, cluster) { outages.append((observer, cluster, at)) }
        }

        func down(_ observer: Int, _ cluster: Int) -> Bool {
            let names = (0..<7).filter { $0 % 2 == cluster && $0 != observer }.map(SimulatedNetwork.name(of:))
            guard let view = views[observer], names.allSatisfy({ view[$0] != nil }) else { return false }
            return names.allSatisfy { view[$0] != .alive }
        }
    }

    private func outagesUnderLoss(_ profile: GossipProfile) -> (outages: Int, suspicions: Int) {
        let net = SimulatedNetwork(count: 7, settings: GossipSettings(profile: profile), seed: 41, link: .init(loss: 0.1))
        net.encodePackets = false
        let views = ClusterViews()
        var suspicions = 0
        var cutOffs = 0
        net.onEvent = { event in
            if case .cutOff(_, true, _) = event { cutOffs += 1 }
            guard case .memberChanged(let observer, let member, _, let at) = event else { return }
            if member.state == .suspect { suspicions += 1 }
            views.note(observer: observer, member: member, at: at)
        }
        net.joinAll()
        net.run(for: .seconds(600))
        XCTAssertTrue(views.outages.isEmpty, "\(profile): a live cluster left a view: \(views.outages.prefix(3))")
        XCTAssertEqual(cutOffs, 0, "\(profile): loss made a member think itself cut off from the mesh")
        return (views.outages.count, suspicions)
    }

    func testTenPercentLossNeverTakesALiveClusterOutOfAView() {
        // A false failover needs every agent of one cluster suspected at once in one view. Each suspicion starts
        // probes of the suspect's siblings (direct and indirect at once) and of the suspect itself: ten simulated
        // minutes of 10% loss on every datagram, at both profiles, must not make it happen.
        for profile in [GossipProfile.lan, .fast] {
            let result = outagesUnderLoss(profile)
            print("\(profile), 3 + 3 + 1, 10% loss, 600 s: \(result.suspicions) suspicions, \(result.outages) live clusters out of a view")
        }
    }
}
