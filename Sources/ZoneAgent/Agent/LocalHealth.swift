import Wire

/// What this agent knows about its cluster's endpoints: all of them (from discovery), and the health of those it
/// probes itself (chosen by rendezvous hashing over the cluster's live agents). Pure: the agent feeds it.
struct LocalHealth: Sendable {
    let member: String
    private(set) var replicas: Int
    private(set) var fall: Int
    private(set) var rise: Int
    /// How long an endpoint that leaves this agent's share is still probed and reported by it: long enough for its
    /// new probers to confirm it (`rise` probes, and one interval of slack). Without it, the moment shares move (an
    /// agent joins, a DaemonSet pod is replaced) nobody says the endpoint is healthy: the old prober reports it
    /// unknown at once and the new one only after `rise` probes, and a cluster whose every endpoint moves at once
    /// fails over for nothing, then waits out the hold-down.
    private(set) var handover: Duration
    private(set) var endpoints: [ProbeTarget] = []
    /// What this agent probes: its share, and the endpoints it is handing over.
    private(set) var assigned: [ProbeTarget] = []
    private var share: Set<ProbeTarget> = []
    /// Endpoints leaving this agent's share, and until when it keeps them.
    private var handingOver: [ProbeTarget: ContinuousClock.Instant] = [:]
    private var counters: [ProbeTarget: ProbeCounter] = [:]
    private var liveMembers: [String] = []

    init(member: String, replicas: Int, fall: Int, rise: Int, handover: Duration = .zero) {
        self.member = member
        self.replicas = replicas
        self.fall = fall
        self.rise = rise
        self.handover = handover
        self.liveMembers = [member]
    }

    /// Replaces the endpoint set (from discovery); returns true when it changed.
    mutating func setEndpoints(_ new: [ProbeTarget], now: ContinuousClock.Instant) -> Bool {
        let sorted = Array(Set(new)).sorted()
        guard sorted != endpoints else { return false }
        endpoints = sorted
        reassign(now: now)
        return true
    }

    /// Replaces the live agents of this cluster (from membership); returns true when this agent's share changed.
    mutating func setLiveMembers(_ members: [String], now: ContinuousClock.Instant) -> Bool {
        let sorted = Array(Set(members + [member])).sorted()
        guard sorted != liveMembers else { return false }
        liveMembers = sorted
        let before = assigned
        reassign(now: now)
        return before != assigned
    }

    /// New probe settings from a reload. Counters keep their state and judge by the new thresholds from their next
    /// result, so a reload never makes an endpoint unknown; a new replica count re-deals the shares. Returns true
    /// when this agent's share changed.
    mutating func retune(replicas: Int, fall: Int, rise: Int, handover: Duration, now: ContinuousClock.Instant) -> Bool {
        self.fall = fall
        self.rise = rise
        self.handover = handover
        for key in counters.keys {
            counters[key]?.fall = max(1, fall)
            counters[key]?.rise = max(1, rise)
        }
        guard replicas != self.replicas else { return false }
        self.replicas = replicas
        let before = assigned
        reassign(now: now)
        return before != assigned
    }

    /// Lets go of handed-over endpoints whose time is up; returns true when the report changed.
    mutating func endHandovers(now: ContinuousClock.Instant) -> Bool {
        let due = handingOver.filter { $0.value <= now }.map(\.key)
        guard !due.isEmpty else { return false }
        for key in due {
            handingOver[key] = nil
            counters[key] = nil
        }
        assigned = Array(share.union(handingOver.keys)).sorted()
        return true
    }

    /// Records a probe result of an assigned endpoint; returns true when its health changed.
    mutating func record(_ key: ProbeTarget, success: Bool) -> Bool {
        guard counters[key] != nil else { return false }   // no longer ours: a late result
        return counters[key]!.record(success: success)
    }

    /// The digest's endpoint list: our probed endpoints with their health, the rest as known but unprobed.
    var report: [EndpointHealth] {
        endpoints.map { key in
            key.health(counters[key]?.state ?? .unknown)
        }
    }

    private mutating func reassign(now: ContinuousClock.Instant) {
        let newShare = Set(endpoints.filter {
            ProberAssignment.isProber(member, of: $0.description, among: liveMembers, replicas: replicas)
        })
        let known = Set(endpoints)
        // Endpoints that leave our share are kept a while, if we had judged them (see `handover`); endpoints that
        // left discovery, or come back to our share, are not handed over.
        for key in share.subtracting(newShare) where known.contains(key) && handover > .zero && counters[key]?.state != .unknown {
            handingOver[key] = handingOver[key] ?? now + handover
        }
        for key in handingOver.keys where newShare.contains(key) || !known.contains(key) { handingOver[key] = nil }
        share = newShare
        assigned = Array(share.union(handingOver.keys)).sorted()
        // Endpoints no longer ours are forgotten: if they come back to us, we judge them afresh.
        var kept: [ProbeTarget: ProbeCounter] = [:]
        for key in assigned { kept[key] = counters[key] ?? ProbeCounter(fall: fall, rise: rise) }
        counters = kept
    }
}
