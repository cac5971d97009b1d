/// What a route does when clusters fail: where their share goes, how many healthy endpoints a cluster needs to
/// count, and what the route serves when no cluster can. The defaults keep the plain proportional rule.
public struct TrafficPolicy: Sendable, Hashable {
    /// The smallest number of healthy endpoints that lets a cluster take traffic.
    public enum MinHealthy: Sendable, Hashable, CustomStringConvertible {
        /// At least this many healthy endpoints.
        case count(Int)
        /// At least this share of the cluster's endpoints (rounded up), in percent.
        case percent(Int)

        /// The threshold for a cluster of `total` endpoints; at least 1, since a cluster with none cannot serve.
        public func required(total: Int) -> Int {
            switch self {
            case .count(let n): return max(1, n)
            case .percent(let p): return max(1, (max(0, total) * min(max(p, 0), 100) + 99) / 100)
            }
        }

        /// `2` or `50%`, as configured.
        public var description: String {
            switch self {
            case .count(let n): return "\(n)"
            case .percent(let p): return "\(p)%"
            }
        }
    }

    /// What a route serves when none of its clusters can.
    public enum NoneHealthy: String, Sendable, Hashable, CaseIterable {
        /// Keep the last good weights and endpoints (fail static): a mesh-wide blip does not take the route down.
        case lastGood = "last-good"
        /// Spread over every endpoint any agent ever reported for the route, healthy or not (fail open): some
        /// requests may fail, but none is refused outright.
        case all
        /// Serve nothing: the proxy answers 503 (fail closed), for routes where a stale endpoint is worse than none.
        case none
    }

    /// Ordered failover: groups of clusters, first to last. A cluster's lost share goes to the clusters of its own
    /// group first and reaches the next group only when its whole group cannot take it (every cluster of it failed,
    /// held down, or short of capacity), as Envoy's priority levels spill over. Clusters of the route that no group
    /// names form a last group of their own. Empty: one group of every cluster, the proportional rule.
    public var priority: [[String]]
    /// Below this, a cluster is failed rather than degraded, and a returning one counts only once it reaches it.
    /// nil: one healthy endpoint is enough.
    public var minHealthy: MinHealthy?
    /// What the route serves when no cluster can. Default `.lastGood`, the table's behaviour from the start.
    public var whenNoneHealthy: NoneHealthy

    /// The defaults: proportional failover, one healthy endpoint, last good table when none can serve.
    public init(priority: [[String]] = [], minHealthy: MinHealthy? = nil, whenNoneHealthy: NoneHealthy = .lastGood) {
        self.priority = priority
        self.minHealthy = minHealthy
        self.whenNoneHealthy = whenNoneHealthy
    }

    /// What one route sets for itself; each key it leaves out comes from the table policy's `traffic`.
    public struct Overrides: Sendable, Hashable {
        public var priority: [[String]]?
        public var minHealthy: MinHealthy?
        public var whenNoneHealthy: NoneHealthy?

        public init(priority: [[String]]? = nil, minHealthy: MinHealthy? = nil, whenNoneHealthy: NoneHealthy? = nil) {
            self.priority = priority
            self.minHealthy = minHealthy
            self.whenNoneHealthy = whenNoneHealthy
        }

        /// Every key of `policy`, set.
        public init(_ policy: TrafficPolicy) {
            self.init(priority: policy.priority, minHealthy: policy.minHealthy, whenNoneHealthy: policy.whenNoneHealthy)
        }
    }

    /// This policy with the keys `overrides` sets replaced.
    public func overridden(by overrides: Overrides?) -> TrafficPolicy {
        guard let overrides else { return self }
        return TrafficPolicy(priority: overrides.priority ?? priority, minHealthy: overrides.minHealthy ?? minHealthy,
                             whenNoneHealthy: overrides.whenNoneHealthy ?? whenNoneHealthy)
    }

    /// The priority groups for a route over `clusters` (sorted by name), as indices into that list: the configured
    /// groups without names the route does not have, then every unnamed cluster as one last group.
    func groups(of clusters: [String]) -> [[Int]] {
        guard !priority.isEmpty else { return [Array(clusters.indices)] }
        let index = Dictionary(clusters.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        var placed = Set<Int>()
        var groups: [[Int]] = []
        for group in priority {
            let members = group.compactMap { index[$0] }.filter { placed.insert($0).inserted }.sorted()
            if !members.isEmpty { groups.append(members) }
        }
        let rest = clusters.indices.filter { !placed.contains($0) }
        if !rest.isEmpty { groups.append(rest) }
        return groups
    }
}
