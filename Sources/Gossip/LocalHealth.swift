/// Lifeguard's local health score (memberlist's `awareness`): how much this member doubts its own view.
///
/// A member whose probes go unanswered without a single nack, or that must refute suspicions of itself, is more
/// likely the one at fault (a busy process, a lossy uplink) than the members it fails to reach. It then stretches
/// its probe timeouts and periods by `score + 1`, so that it accuses fewer healthy members while it struggles,
/// and shrinks them again as acks come back.
///
/// It also counts the round robin's probes in a row that nobody answered at all: no ack, direct or relayed, and not
/// one nack from the helpers asked. A single such probe is a doubt; two in a row mean this member is cut off from
/// the mesh, whatever it concluded about the members it probed.
struct LocalHealth: Sendable, Equatable {
    /// Probes in a row answered by no one that make a member cut off: one can be bad luck (the target and its
    /// helpers all gone with a failing cluster); at 10% loss two in a row happen about once in 600,000 probes.
    static let cutOffAfter = 2

    /// 0 is healthy; at most `maximum`.
    private(set) var score = 0
    /// The round robin's probes in a row, up to now, that helpers were asked about and no one answered.
    private(set) var unansweredInARow = 0
    /// The highest score (memberlist's `AwarenessMaxMultiplier` − 1): at worst timeouts are `maximum + 1` times longer.
    let maximum: Int

    init(maximum: Int) {
        self.maximum = maximum
    }

    /// The factor by which probe timeouts and periods are stretched.
    var scale: Int { score + 1 }

    /// Whether the member is healthy: only a healthy member spends extra probes on searches.
    var isHealthy: Bool { score == 0 }

    /// Whether this member's recent probes went unanswered by everyone: it, not the mesh, is likely at fault.
    var isCutOff: Bool { unansweredInARow >= Self.cutOffAfter }

    /// Counts a probe that no one answered; true when that made the member cut off.
    mutating func noteUnanswered() -> Bool {
        unansweredInARow += 1
        return unansweredInARow == Self.cutOffAfter
    }

    /// Counts an answer (an ack or a helper's nack) to any probe; true when the member was cut off until now.
    mutating func noteAnswered() -> Bool {
        defer { unansweredInARow = 0 }
        return isCutOff
    }

    /// Raises (positive `delta`) or lowers the score, kept within 0...maximum.
    mutating func adjust(by delta: Int) {
        score = min(maximum, max(0, score + delta))
    }
}
