import Gossip
@testable import GossipSimulation
import Wire

/// Collects what simulated members observed, for assertions.
final class Observations {
    struct Change {
        var observer: Int
        var member: MemberSnapshot
        var previous: MemberState?
        var at: Duration
    }
    var changes: [Change] = []
    var accepted: [(observer: Int, digest: SignedDigest, at: Duration)] = []
    var rejected: [(observer: Int, rejection: RecordRejection, at: Duration)] = []
    var drains: [(observer: Int, drain: SignedDrain, at: Duration)] = []
    var cutOffs: [(observer: Int, cutOff: Bool, at: Duration)] = []
    var recordChanges = true

    func attach(to network: SimulatedNetwork) {
        network.onEvent = { event in
            switch event {
            case .memberChanged(let observer, let member, let previous, let at):
                if self.recordChanges { self.changes.append(Change(observer: observer, member: member, previous: previous, at: at)) }
            case .digestAccepted(let observer, let digest, let at):
                self.accepted.append((observer, digest, at))
            case .recordRejected(let observer, let rejection, let at):
                self.rejected.append((observer, rejection, at))
            case .drainAccepted(let observer, let drain, let at):
                self.drains.append((observer, drain, at))
            case .cutOff(let observer, let cut, let at):
                self.cutOffs.append((observer, cut, at))
            }
        }
    }

    /// Times at which each observer first saw `name` in `state`.
    func firstSeen(_ name: String, _ state: MemberState, generation: UInt64? = nil) -> [Int: Duration] {
        var out: [Int: Duration] = [:]
        for c in changes where c.member.name == name && c.member.state == state
            && (generation == nil || c.member.identity.generation == generation) && out[c.observer] == nil {
            out[c.observer] = c.at
        }
        return out
    }
}

extension SimulatedNetwork {
    /// Whether every running member other than `i` sees member `i` in `state`.
    func everyoneSees(_ i: Int, as state: MemberState, except: Set<Int> = []) -> Bool {
        let name = Self.name(of: i)
        for j in 0..<count where j != i && !isKilled(j) && !except.contains(j) {
            guard core(j).member(named: name)?.state == state else { return false }
        }
        return true
    }

    /// Whether every running member sees every other running member alive.
    func fullyConverged(among group: [Int]? = nil) -> Bool {
        let members = group ?? Array(0..<count)
        for j in members where !isKilled(j) {
            let c = core(j)
            for k in members where k != j && !isKilled(k) {
                guard c.member(named: Self.name(of: k))?.state == .alive else { return false }
            }
        }
        return true
    }
}

func seconds(_ d: Duration) -> Double {
    let c = d.components
    return Double(c.seconds) + Double(c.attoseconds) / 1e18
}

/// A mesh of 200 in four clusters of 50 with one cluster killed at once (seed 21, 1% loss), as `SimulationTests`
/// and `SimulationWindowTests` run it: for each survivor, how long until no member of the killed cluster was alive
/// in its view (sorted; nil when some survivor never got there within 30 s), and how many live members were
/// suspected meanwhile.
func killOneClusterOfFour(workers: Int, settings: GossipSettings = GossipSettings()) -> (perSurvivor: [Double]?, falseSuspects: Int) {
    let n = 200
    let net = SimulatedNetwork(count: n, settings: settings, seed: 21, link: .init(loss: 0.01), clusters: 4, crypto: .checksum,
                               encodePackets: false)
    net.workers = workers
    net.minimumParallelBatch = 1
    var lastSeenAlive: [Int: [String: Duration]] = [:]
    var falseSuspects = 0
    let victims = Set((0..<n).filter { $0 % 4 == 3 }.map(SimulatedNetwork.name(of:)))
    net.onEvent = { event in
        guard case .memberChanged(let observer, let member, _, let at) = event, member.state != .alive else { return }
        if victims.contains(member.name) {
            if lastSeenAlive[observer, default: [:]][member.name] == nil { lastSeenAlive[observer, default: [:]][member.name] = at }
        } else {
            falseSuspects += 1
        }
    }
    net.bootstrapFullView()
    net.run(for: .seconds(10))
    let killedAt = net.elapsed
    for i in 0..<n where i % 4 == 3 { net.kill(i) }
    let survivors = (0..<n).filter { $0 % 4 != 3 }
    let gone = net.run(until: { survivors.allSatisfy { lastSeenAlive[$0]?.count == victims.count } },
                       step: .milliseconds(20), limit: .seconds(30))
    guard gone != nil else { return (nil, falseSuspects) }
    let perSurvivor = survivors.map { o in seconds((lastSeenAlive[o]?.values.max() ?? .seconds(99)) - killedAt) }.sorted()
    return (perSurvivor, falseSuspects)
}

