import Gossip
import MeshCrypto
import NIOCore
import SeededRandom
import Wire

/// Operators' drain orders in the simulation: handed to one member as its admin API would, then left to gossip.
extension SimulatedNetwork {
    /// Hands member `i` a drain order signed with the operator key; returns the outcome.
    @discardableResult
    public func drain(_ record: DrainRecord, at i: Int) -> DrainOutcome {
        drain(SignedDrain(signing: record, with: operatorSigner), at: i)
    }

    /// Hands member `i` an already signed (or forged) drain order.
    @discardableResult
    public func drain(_ signed: SignedDrain, at i: Int) -> DrainOutcome {
        let now = now, wall = wallClockMillis
        var outcome = DrainOutcome.superseded
        step(i) { outcome = $0.inject(signed, now: now, wallClockMillis: wall, shell: &$1) }
        return outcome
    }
}
