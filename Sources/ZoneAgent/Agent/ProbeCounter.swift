import Wire

/// Turns consecutive probe results into a health state, the way load balancers do: `fall` failures in a row
/// make a healthy endpoint unhealthy, `rise` successes in a row make an unhealthy one healthy again. The first
/// result decides at once, so a starting agent does not hold back healthy endpoints for `rise` intervals.
struct ProbeCounter: Sendable, Equatable {
    /// Thresholds; a reload may change them, and the counter judges by the new ones from its next result.
    var fall: Int
    var rise: Int
    private(set) var state: EndpointHealthState = .unknown
    private var streak = 0

    init(fall: Int, rise: Int) {
        self.fall = max(1, fall)
        self.rise = max(1, rise)
    }

    /// Records one result; returns true when the state changed.
    mutating func record(success: Bool) -> Bool {
        let before = state
        switch (state, success) {
        case (.unknown, true): state = .healthy; streak = 0
        case (.unknown, false): state = .unhealthy; streak = 0
        case (.healthy, true), (.unhealthy, false): streak = 0
        case (.healthy, false):
            streak += 1
            if streak >= fall { state = .unhealthy; streak = 0 }
        case (.unhealthy, true):
            streak += 1
            if streak >= rise { state = .healthy; streak = 0 }
        }
        return state != before
    }
}
