/// One endpoint as the outlier detector knows it: the cluster it serves and its address.
public struct OutlierEndpoint: Sendable, Hashable, Comparable {
    public var cluster: String
    public var host: String
    public var port: UInt16

    public init(cluster: String, host: String, port: UInt16) {
        self.cluster = cluster
        self.host = host
        self.port = port
    }

    public static func < (a: Self, b: Self) -> Bool { (a.cluster, a.host, a.port) < (b.cluster, b.host, b.port) }

    /// `host:port`, with brackets around an IPv6 host.
    public var address: String { host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Passive outlier detection as a pure state machine: the proxy's exchange outcomes go in (``record(_:failed:now:)``),
/// ejections and demotions come out, and ``view(now:)`` is what the table reads (`TableInputs.outliers`).
///
/// No clock, no I/O: every call gets `now`, so equal call sequences give equal states. An endpoint with
/// `consecutiveErrors` failures in a row is ejected for `n × baseEjection` at its n-th ejection (the count decays by
/// one for every `baseEjection` it then stays in), never beyond ``OutlierPolicy/maxEjected(of:)`` of its cluster at
/// once; a cluster whose error rate over a window crosses `clusterErrorRate` is demoted for the same growing time.
public struct OutlierDetector: Sendable {
    /// What changed, for logs and metrics.
    public enum Event: Sendable, Hashable {
        case ejected(OutlierEndpoint, count: Int, for: Duration)
        case released(OutlierEndpoint)
        case demoted(cluster: String, errorRate: Int, count: Int, for: Duration)
        case restored(cluster: String)
    }

    struct EndpointRecord: Sendable, Hashable {
        var consecutive = 0
        var ejections = 0
        var ejectedAt: ContinuousClock.Instant?
        var until: ContinuousClock.Instant?
        var releasedAt: ContinuousClock.Instant?
    }

    struct Outcome: Sendable, Hashable {
        var at: ContinuousClock.Instant
        var failed: Bool
    }

    struct ClusterRecord: Sendable, Hashable {
        /// The cluster's last `minRequests` outcomes (a ring; `next` is the oldest once full) and their errors.
        var recent: [Outcome] = []
        var next = 0
        var errors = 0
        var demotions = 0
        var until: ContinuousClock.Instant?
        var releasedAt: ContinuousClock.Instant?
        /// The error rate, in percent, that demoted it.
        var rate = 0
    }

    public let policy: OutlierPolicy
    private(set) var endpoints: [OutlierEndpoint: EndpointRecord] = [:]
    private(set) var clusters: [String: ClusterRecord] = [:]
    /// Per cluster, how many endpoints it has (every state): what the ejection cap is a share of.
    private(set) var population: [String: Int] = [:]
    /// The earliest end of an ejection or demotion, so that ``advance(to:)``, called for every exchange, costs one
    /// comparison while nothing is due.
    public private(set) var nextReleaseAt: ContinuousClock.Instant?

    public init(policy: OutlierPolicy) {
        self.policy = policy
    }

    /// Sets each cluster's endpoint count (from the table in force); a cluster not named has none, so none of its
    /// endpoints can be ejected. Ejections beyond a smaller cap are released, newest first.
    public mutating func setPopulation(_ population: [String: Int], now: ContinuousClock.Instant) -> [Event] {
        self.population = population
        var events = advance(to: now)
        for cluster in Set(endpoints.keys.map(\.cluster)).sorted() {
            let ejected = ejectedKeys(cluster: cluster)
            let allowed = policy.maxEjected(of: population[cluster] ?? 0)
            guard ejected.count > allowed else { continue }
            // Keep the oldest ejections; release the newest (ties by address, so the choice is deterministic).
            let newestFirst = ejected.sorted { a, b in
                let (x, y) = (endpoints[a]!.ejectedAt!, endpoints[b]!.ejectedAt!)
                return x != y ? x > y : a > b
            }
            for key in newestFirst.prefix(ejected.count - allowed) {
                release(key, at: now)
                events.append(.released(key))
            }
        }
        updateNextRelease()
        return events
    }

    /// One exchange with `endpoint` ended: `failed` for a connection error, reset, timeout or 5xx answer.
    public mutating func record(_ endpoint: OutlierEndpoint, failed: Bool, now: ContinuousClock.Instant) -> [Event] {
        var events = advance(to: now)
        recordCluster(endpoint.cluster, failed: failed, now: now, events: &events)
        var entry = endpoints[endpoint] ?? EndpointRecord()
        // Answers from an ejected endpoint (requests sent before it was ejected) say nothing new.
        guard entry.until == nil else { return events }
        guard failed else {
            if entry.consecutive != 0 {
                entry.consecutive = 0
                store(endpoint, entry)
            }
            return events
        }
        entry.consecutive += 1
        defer { store(endpoint, entry) }
        guard entry.consecutive >= policy.consecutiveErrors else { return events }
        let allowed = policy.maxEjected(of: population[endpoint.cluster] ?? 0)
        // At the cap the count stays at the threshold: the endpoint goes as soon as there is room and it fails again.
        guard ejectedKeys(cluster: endpoint.cluster).count < allowed else { return events }
        entry.ejections = Self.decayed(entry.ejections, since: entry.releasedAt, now: now, step: policy.baseEjection) + 1
        let time = policy.ejectionTime(count: entry.ejections)
        entry.consecutive = 0
        entry.ejectedAt = now
        entry.until = now.advanced(by: time)
        scheduleRelease(at: now.advanced(by: time))
        events.append(.ejected(endpoint, count: entry.ejections, for: time))
        return events
    }

    /// Releases the ejections and demotions whose time is over at `now`.
    public mutating func advance(to now: ContinuousClock.Instant) -> [Event] {
        guard let due = nextReleaseAt, due <= now else { return [] }
        var events: [Event] = []
        for key in endpoints.keys.sorted() {
            if let until = endpoints[key]?.until, until <= now {
                release(key, at: now)
                events.append(.released(key))
            }
        }
        for name in clusters.keys.sorted() {
            if let until = clusters[name]?.until, until <= now {
                clusters[name]?.until = nil
                clusters[name]?.releasedAt = now
                events.append(.restored(cluster: name))
            }
        }
        // Forget endpoints that carry nothing any more, so the map stays as small as the set of failing ones.
        for (key, entry) in endpoints where entry.until == nil && entry.consecutive == 0
            && Self.decayed(entry.ejections, since: entry.releasedAt, now: now, step: policy.baseEjection) == 0 {
            endpoints[key] = nil
        }
        updateNextRelease()
        return events
    }

    private mutating func updateNextRelease() {
        nextReleaseAt = (endpoints.values.compactMap(\.until) + clusters.values.compactMap(\.until)).min()
    }

    private mutating func scheduleRelease(at until: ContinuousClock.Instant) {
        nextReleaseAt = nextReleaseAt.map { min($0, until) } ?? until
    }

    /// What the table applies at `now`: the endpoints ejected and the clusters demoted, with their reasons.
    public func view(now: ContinuousClock.Instant) -> OutlierView {
        var view = OutlierView()
        for (key, entry) in endpoints {
            guard let until = entry.until, let at = entry.ejectedAt, until > now else { continue }
            view.ejected[key] = "endpoint \(key.address) ejected by this gateway after \(policy.consecutiveErrors) consecutive errors, "
                + "for \(TableBuilder.format(at.duration(to: until))) (ejection \(entry.ejections))"
        }
        for (name, entry) in clusters {
            guard let until = entry.until, until > now else { continue }
            view.demoted[name] = OutlierView.Demotion(errorRate: entry.rate, requests: policy.minRequests,
                                                      windowText: TableBuilder.format(policy.window))
        }
        return view
    }

    /// Endpoints ejected now, per cluster, as counted against the cap.
    public func ejectedCount(cluster: String) -> Int { ejectedKeys(cluster: cluster).count }

    // MARK: Internals

    private mutating func recordCluster(_ name: String, failed: Bool, now: ContinuousClock.Instant, events: inout [Event]) {
        guard let threshold = policy.clusterErrorRate else { return }
        var entry = clusters[name] ?? ClusterRecord()
        defer { clusters[name] = entry }
        // A demoted cluster is not judged again until its demotion is over.
        guard entry.until == nil else { return }
        // The last minRequests outcomes, not a tumbling window: a cluster that breaks after a long healthy run is
        // judged on its newest requests, so it goes after about minRequests × rate errors.
        let outcome = Outcome(at: now, failed: failed)
        if entry.recent.count < policy.minRequests {
            entry.recent.append(outcome)
        } else {
            if entry.recent[entry.next].failed { entry.errors -= 1 }
            entry.recent[entry.next] = outcome
            entry.next = (entry.next + 1) % entry.recent.count
        }
        if failed { entry.errors += 1 }
        let count = entry.recent.count
        guard count >= policy.minRequests, entry.recent[entry.next % count].at.duration(to: now) < policy.window,
              entry.errors * 100 >= threshold * count else { return }
        entry.demotions = Self.decayed(entry.demotions, since: entry.releasedAt, now: now, step: policy.baseEjection) + 1
        entry.rate = entry.errors * 100 / count
        let time = policy.ejectionTime(count: entry.demotions)
        entry.until = now.advanced(by: time)
        scheduleRelease(at: now.advanced(by: time))
        (entry.recent, entry.next, entry.errors) = ([], 0, 0)
        events.append(.demoted(cluster: name, errorRate: entry.rate, count: entry.demotions, for: time))
    }

    private func ejectedKeys(cluster: String) -> [OutlierEndpoint] {
        endpoints.compactMap { $0.key.cluster == cluster && $0.value.until != nil ? $0.key : nil }
    }

    private mutating func release(_ key: OutlierEndpoint, at now: ContinuousClock.Instant) {
        endpoints[key]?.until = nil
        endpoints[key]?.ejectedAt = nil
        endpoints[key]?.releasedAt = now
        endpoints[key]?.consecutive = 0
    }

    /// Keeps only records that still carry something.
    private mutating func store(_ key: OutlierEndpoint, _ entry: EndpointRecord) {
        if entry.consecutive == 0 && entry.ejections == 0 && entry.until == nil {
            endpoints[key] = nil
        } else {
            endpoints[key] = entry
        }
    }

    /// An ejection count less one for every `step` since the last release, as Envoy lowers its multiplier while a
    /// host stays healthy: an endpoint that failed once long ago starts again at the base time.
    static func decayed(_ count: Int, since: ContinuousClock.Instant?, now: ContinuousClock.Instant, step: Duration) -> Int {
        guard let since, count > 0, step > .zero else { return count }
        let steps = Int((since.duration(to: now) / step).rounded(.down))
        return max(0, count - steps)
    }
}

/// What this gateway's outlier detection takes away at one moment: an input of the table, local to this gateway.
public struct OutlierView: Sendable, Hashable {
    /// A cluster demoted for its error rate.
    public struct Demotion: Sendable, Hashable {
        /// The error rate that demoted it, in percent.
        public var errorRate: Int
        /// Over how many of its latest requests.
        public var requests: Int
        /// The window they fell within, as text.
        public var windowText: String

        public init(errorRate: Int, requests: Int, windowText: String) {
            self.errorRate = errorRate
            self.requests = requests
            self.windowText = windowText
        }
    }

    /// The endpoints ejected, with the reason the table shows.
    public var ejected: [OutlierEndpoint: String] = [:]
    /// The clusters demoted.
    public var demoted: [String: Demotion] = [:]

    public init(ejected: [OutlierEndpoint: String] = [:], demoted: [String: Demotion] = [:]) {
        self.ejected = ejected
        self.demoted = demoted
    }

    /// Nothing ejected or demoted: the table as without outlier detection.
    public var isEmpty: Bool { ejected.isEmpty && demoted.isEmpty }
}
