import Gossip
import Wire

/// What a simulated member observed, for tests and benchmarks to assert on.
public enum SimulationEvent: Sendable {
    /// `observer` saw `member` change from `previous` at `at`.
    case memberChanged(observer: Int, member: MemberSnapshot, previous: MemberState?, at: Duration)
    /// `observer` stored a digest at `at`.
    case digestAccepted(observer: Int, digest: SignedDigest, at: Duration)
    /// `observer` stored a drain order at `at`.
    case drainAccepted(observer: Int, drain: SignedDrain, at: Duration)
    /// `observer` refused a record at `at`.
    case recordRejected(observer: Int, rejection: RecordRejection, at: Duration)
    /// `observer` became cut off from the mesh (its probes unanswered by everyone), or heard an answer again, at `at`.
    case cutOff(observer: Int, cutOff: Bool, at: Duration)
}
