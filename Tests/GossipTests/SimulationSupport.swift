import Gossip
import GossipSimulation
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
