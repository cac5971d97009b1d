import Gossip
import GossipNIO
import Prometheus
import Synchronization
import Wire

/// What the gossip layer reports to this process, as metrics: members by state, their transitions, how long a
/// failure took to confirm, the digests accepted (and how old they were on arrival) and the records refused.
final class MeshMetrics: Sendable {
    /// The member states, in the order the page lists them.
    static let states = ["alive", "suspect", "dead", "left"]

    let members: [String: Gauge]
    let transitions: [String: Counter]
    let suspicions: Counter
    let detection: DurationHistogram
    let digestsAccepted: Counter
    let digestsMissedByGossip: Counter
    let digestAge: DurationHistogram
    let rejected: [String: Counter]
    let nameConflicts: Counter
    private let suspectedSince = Mutex(SuspicionClock())

    init(registry: PrometheusCollectorRegistry) {
        members = Dictionary(uniqueKeysWithValues: Self.states.map { state in
            (state, registry.gauge("zone_agent_members", [("state", state)],
                                       help: "Members this process knows, by state (this process counts as alive)."))
        })
        transitions = Dictionary(uniqueKeysWithValues: Self.states.map { state in
            (state, registry.counter("zone_agent_member_transitions_total", [("to", state)],
                                         help: "Member state changes seen, by the state entered."))
        })
        suspicions = registry.counter("zone_agent_suspicions_total",
                                          help: "Times a member was suspected of failure (refuted or not).")
        detection = registry.histogram("zone_agent_failure_detection_seconds", buckets: MetricBuckets.detection,
            help: "Time from the first suspicion of a member to its declaration as dead, as this process saw it.")
        digestsAccepted = registry.counter("zone_agent_digests_accepted_total",
                                               help: "Verified health digests stored (newer than the one held).")
        digestsMissedByGossip = registry.counter("zone_agent_digests_by_state_sync_total",
            help: "Accepted digests that a state sync brought although gossip should have by then (small enough for a datagram, issued after this member's first sync, older than gossip's spread): news the epidemic and the direct send to gateways missed.")
        digestAge = registry.histogram("zone_agent_digest_age_seconds", buckets: MetricBuckets.digestAge,
            help: "Age of each accepted digest on arrival: received minus issued, by the wall clocks of both ends.")
        rejected = Dictionary(uniqueKeysWithValues: Self.rejectionReasons.map { reason in
            (reason, registry.counter("zone_agent_records_rejected_total", [("reason", reason)],
                                          help: "Signed records refused, by reason; bad_signature, untrusted_key and unknown_cluster point at a rogue or misconfigured agent."))
        })
        nameConflicts = registry.counter("zone_agent_name_conflicts_total",
                                             help: "Member names found in use by two running processes.")
    }

    /// Every `RecordRejection.reason`, so each series exists at 0.
    static let rejectionReasons = ["unknown_cluster", "untrusted_key", "bad_signature", "not_newer", "future_timestamp", "unsigned",
                                   "untrusted_operator", "drain_too_long", "cluster_changed"]

    /// Counts a member's new state, and times its failure from the first suspicion.
    func memberChanged(_ member: MemberSnapshot, previous: MemberState?, now: ContinuousClock.Instant) {
        let state = member.state.rawValue
        transitions[state]?.increment()
        if member.state == .suspect && previous != .suspect { suspicions.increment() }
        let key = SuspicionClock.Key(name: member.name, generation: member.identity.generation)
        if let elapsed = suspectedSince.withLock({ $0.observe(key, state: member.state, now: now) }) {
            detection.record(elapsed)
        }
    }

    /// Sets the members-by-state gauge; states absent from `counts` are 0.
    func membersByState(_ counts: [String: Int]) {
        for (state, gauge) in members { gauge.set(Int64(counts[state] ?? 0)) }
    }

    /// Counts a stored digest and how old it was when it got here (never below zero: clocks differ), and whether a
    /// state sync brought it though gossip should have (`missedByGossip`, the gossip core's judgement).
    func digestAccepted(_ digest: HealthDigest, missedByGossip: Bool = false, receivedAtMillis: UInt64) {
        digestsAccepted.increment()
        if missedByGossip { digestsMissedByGossip.increment() }
        let ageMillis = receivedAtMillis > digest.issuedAtMillis ? receivedAtMillis - digest.issuedAtMillis : 0
        digestAge.record(.milliseconds(Int64(clamping: ageMillis)))
    }

    func recordRejected(reason: String) {
        rejected[reason]?.increment()
    }
}

/// When each member was first suspected, so that its death can be timed from there: the failure detection
/// latency as this process saw it. A refutation (alive again) forgets the suspicion; a member seen dead without
/// a suspicion first (learned from others already dead) gives no figure.
struct SuspicionClock: Sendable {
    struct Key: Hashable, Sendable {
        var name: String
        var generation: UInt64
    }

    private(set) var since: [Key: ContinuousClock.Instant] = [:]
    /// Members suspected and then forgotten without a verdict would otherwise stay here for the life of the
    /// process; past this many (far more than are ever suspected at once) the oldest suspicion is dropped.
    static let limit = 4_096

    /// Notes `state` for `key`; returns the time from first suspicion to death when this is that death.
    mutating func observe(_ key: Key, state: MemberState, now: ContinuousClock.Instant) -> Duration? {
        switch state {
        case .suspect:
            if since[key] == nil {
                if since.count >= Self.limit, let oldest = since.min(by: { $0.value < $1.value })?.key {
                    since.removeValue(forKey: oldest)
                }
                since[key] = now
            }
            return nil
        case .dead:
            return since.removeValue(forKey: key).map { now - $0 }
        case .alive, .left:
            since.removeValue(forKey: key)
            return nil
        }
    }
}
