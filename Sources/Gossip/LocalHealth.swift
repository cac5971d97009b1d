/// Lifeguard's local health score (memberlist's `awareness`): how much this member doubts its own view.
///
/// A member whose probes go unanswered without a single nack, or that must refute suspicions of itself, is more
/// likely the one at fault (a busy process, a lossy uplink) than the members it fails to reach. It then stretches
/// its probe timeouts and periods by `score + 1`, so that it accuses fewer healthy members while it struggles,
/// and shrinks them again as acks come back.
struct LocalHealth: Sendable, Equatable {
    /// 0 is healthy; at most `maximum`.
    private(set) var score = 0
    /// The highest score (memberlist's `AwarenessMaxMultiplier` − 1): at worst timeouts are `maximum + 1` times longer.
    let maximum: Int

    init(maximum: Int) {
        self.maximum = maximum
    }

    /// The factor by which probe timeouts and periods are stretched.
    var scale: Int { score + 1 }

    /// Whether the member is healthy: only a healthy member spends extra probes on searches.
    var isHealthy: Bool { score == 0 }

    /// Raises (positive `delta`) or lowers the score, kept within 0...maximum.
    mutating func adjust(by delta: Int) {
        score = min(maximum, max(0, score + delta))
    }
}
