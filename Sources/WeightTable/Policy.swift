/// How the table reacts to failure and recovery: partial capacity, failback damping and history size.
public struct TablePolicy: Sendable, Hashable {
    /// How a cluster that has lost some of its endpoints is weighted.
    public enum Failover: Sendable, Hashable {
        /// Envoy's overprovisioning rule: weight × min(1, factor × healthy fraction), so a cluster keeps its
        /// full share until it drops below 1/factor of its endpoints and then sheds load to the others.
        case overprovision(factor: Double)
        /// The plain rule: full share while any endpoint is healthy, none when none is (`failover: zero-healthy`).
        case zeroHealthy
    }

    /// Which members' digests count for their cluster.
    public enum Vouching: String, Sendable, Hashable {
        /// Only alive members vouch. A suspect is treated as gone at once: waiting for `dead` would add the whole
        /// suspicion timeout (0.5–1.5 s at `lan`) to every failover. A false suspicion moves traffic only if
        /// every agent of a cluster is suspected at once, and the failback hold-down damps that blip.
        case alive
        /// Alive and suspect members vouch, only dead and departed ones stop: slower failover (the suspicion
        /// timeout is added), for links so lossy that whole clusters are falsely suspected.
        case aliveOrSuspect = "alive-or-suspect"
    }

    /// The route rules of every route that sets none of its own (`RouteSpec.traffic`).
    public var traffic: TrafficPolicy
    /// Which standings vouch. Default `.alive`: the failover aims (≤ 1 s at `lan`) need it.
    public var vouching: Vouching
    /// The partial-capacity rule. Default: `.overprovision(factor: 1.4)`, Envoy's default factor, which
    /// tolerates losing 1 − 1/1.4 ≈ 29% of a cluster's endpoints before shifting any traffic.
    public var failover: Failover
    /// How long a cluster that failed must stay live before it takes traffic again. Default 10 s: several
    /// probe rounds (`lan` probes every 500 ms) and longer than a pod restart's blip, so a flap never lands.
    public var holdDown: Duration
    /// How long, after the hold-down, a recovering cluster takes to ramp linearly from 0 to its full share.
    /// Default 10 s, so cold caches and connection pools warm up under a growing load instead of all at once.
    public var slowStart: Duration
    /// How many weight changes the table keeps for display. Default 100: a page of history, bounded memory.
    public var changeHistoryLimit: Int
    /// How long after its issue time a digest vouches for its cluster (`DigestLease`); nil: for ever. Default nil
    /// here, because the builder cannot know whether its caller's wall clock is comparable with the agents'
    /// (simulations and tests feed fixed times); the gateway passes its `failover.digestLease` (default 90 s).
    public var digestLease: Duration?

    /// The defaults: overprovisioning at 1.4, hold-down 10 s, slow start 10 s, 100 recent changes.
    public init(
        failover: Failover = .overprovision(factor: 1.4),
        holdDown: Duration = .seconds(10),
        slowStart: Duration = .seconds(10),
        changeHistoryLimit: Int = 100,
        digestLease: Duration? = nil,
        vouching: Vouching = .alive,
        traffic: TrafficPolicy = TrafficPolicy()
    ) {
        self.vouching = vouching
        self.traffic = traffic
        self.failover = failover
        self.holdDown = holdDown
        self.slowStart = slowStart
        self.changeHistoryLimit = max(0, changeHistoryLimit)
        self.digestLease = digestLease
    }

    /// Whether a member standing so vouches for its cluster's endpoints.
    public func vouches(_ standing: MemberView.Standing) -> Bool {
        switch standing {
        case .alive: return true
        case .suspect: return vouching == .aliveOrSuspect
        case .gone: return false
        }
    }

    /// The share of its weight a cluster keeps with `healthy` of `total` endpoints healthy, in 0...1.
    public func capacity(healthy: Int, total: Int) -> Double {
        guard healthy > 0, total > 0 else { return 0 }
        switch failover {
        case .zeroHealthy:
            return 1
        case .overprovision(let factor):
            let share = factor * Double(min(healthy, total)) / Double(total)
            return share.isNaN ? 0 : min(1, max(0, share))
        }
    }

    /// The fraction of its share a recovering cluster gets after being live for `elapsed`: 0 during the
    /// hold-down, then a linear ramp over the slow start, then 1.
    public func ramp(liveFor elapsed: Duration) -> Double {
        if elapsed < holdDown { return 0 }
        let intoRamp = elapsed - holdDown
        if slowStart <= .zero || intoRamp >= slowStart { return 1 }
        return intoRamp / slowStart
    }
}
