import Atomics

/// The endpoint a request goes to.
public struct PickedEndpoint: Sendable, Hashable {
    /// The cluster that serves it (the proxy's `x-zone-cluster` header).
    public let cluster: String
    /// The endpoint's host (an IP address or a name).
    public let host: String
    /// The endpoint's port.
    public let port: UInt16

    /// Creates a picked endpoint.
    public init(cluster: String, host: String, port: UInt16) {
        self.cluster = cluster
        self.host = host
        self.port = port
    }
}

/// Picks endpoints for requests from one table: O(1) per pick, safe from many threads, exact over a cycle.
///
/// Each route has a precomputed cycle of cluster slots laid out by smooth weighted round robin (as nginx
/// does), so every cycle of `sum of weights / gcd` picks gives each cluster exactly its weight (20/80 → a
/// cycle of 5; 500 picks → 100/400), interleaved rather than in bursts. One atomic counter per route indexes
/// the cycle; the cycle number and the slot's occurrence index then walk the cluster's healthy endpoints
/// round robin, so endpoints of a cluster also get exactly equal shares. A new table gets a new picker,
/// swapped in through `PickerBox`.
public final class EndpointPicker: Sendable {
    /// The table this picker was built from.
    public let table: RoutingTable
    private let matcher: RouteMatcher
    private let plans: [PickPlan]
    /// Per route and excluded cluster, the plan over the other clusters; nil where no other cluster has weight.
    private let retryPlans: [[String: PickPlan]]
    private let retryCounters: [ManagedAtomic<UInt64>]

    /// Builds the picker for `table`.
    public init(table: RoutingTable) {
        self.table = table
        self.matcher = RouteMatcher(routes: table.routes.map(\.spec))
        var plans: [PickPlan] = []
        var retryPlans: [[String: PickPlan]] = []
        for route in table.routes {
            plans.append(PickPlan(route: route, excluding: nil))
            var retries: [String: PickPlan] = [:]
            for cluster in route.clusters where cluster.effectiveWeight > 0 {
                let plan = PickPlan(route: route, excluding: cluster.cluster)
                if !plan.isEmpty { retries[cluster.cluster] = plan }
            }
            retryPlans.append(retries)
        }
        self.plans = plans
        self.retryPlans = retryPlans
        self.retryCounters = table.routes.map { _ in ManagedAtomic<UInt64>(0) }
    }

    /// The index of the route matching host (port ignored, case-insensitive) and path: Exact before Prefix, longest path wins; nil → 404.
    public func route(host: String, path: String) -> Int? {
        matcher.route(host: host, path: path)
    }

    /// The next endpoint of route `route` by its effective weights; nil → 503 (nothing can serve).
    public func pick(route: Int) -> PickedEndpoint? {
        guard plans.indices.contains(route) else { return nil }
        return plans[route].next()
    }

    /// For a retry: the next endpoint not in `excludingCluster` if another cluster has any weight, else another endpoint (different host:port from `excluding`) of any cluster; nil if none.
    public func pickRetry(route: Int, excluding: PickedEndpoint) -> PickedEndpoint? {
        guard plans.indices.contains(route) else { return nil }
        if let plan = retryPlans[route][excluding.cluster] { return plan.next() }
        let plan = plans[route]
        // The excluded cluster has no weight here: the ordinary cycle never picks it anyway.
        if !plan.endpoints.contains(where: { $0.cluster == excluding.cluster }) { return plan.next() }
        // It is the only cluster with weight: another of its endpoints is the best a retry can do.
        let endpoints = plan.endpoints
        let start = Int(retryCounters[route].loadThenWrappingIncrement(ordering: .relaxed) % UInt64(endpoints.count))
        for step in 0..<endpoints.count {
            let candidate = endpoints[(start + step) % endpoints.count]
            if candidate.host != excluding.host || candidate.port != excluding.port { return candidate }
        }
        return nil
    }

    /// The number of routes.
    public var routeCount: Int { plans.count }
}

/// The precomputed pick cycle of one route (or of one route without one cluster, for retries).
final class PickPlan: Sendable {
    /// One position of the cycle: which cluster's endpoints it draws from, and which of that cluster's visits it is.
    struct Slot: Sendable {
        var start: Int
        var count: Int
        var visitsPerCycle: UInt64
        var occurrence: UInt64
    }

    let slots: [Slot]
    let endpoints: [PickedEndpoint]
    private let counter = ManagedAtomic<UInt64>(0)

    var isEmpty: Bool { slots.isEmpty }

    init(route: RouteEntry, excluding excluded: String?) {
        var endpoints: [PickedEndpoint] = []
        var spans: [(start: Int, count: Int, weight: Int)] = []
        for cluster in route.clusters where cluster.effectiveWeight > 0 && cluster.cluster != excluded {
            let start = endpoints.count
            for endpoint in route.endpoints where endpoint.cluster == cluster.cluster {
                endpoints.append(PickedEndpoint(cluster: endpoint.cluster, host: endpoint.host, port: endpoint.port))
            }
            if endpoints.count > start { spans.append((start, endpoints.count - start, cluster.effectiveWeight)) }
        }
        let cycle = Self.smoothWeightedCycle(spans.map(\.weight))
        var seen = [UInt64](repeating: 0, count: spans.count)
        var visits = [UInt64](repeating: 0, count: spans.count)
        for index in cycle { visits[index] += 1 }
        var slots: [Slot] = []
        slots.reserveCapacity(cycle.count)
        for index in cycle {
            slots.append(Slot(start: spans[index].start, count: spans[index].count, visitsPerCycle: visits[index], occurrence: seen[index]))
            seen[index] += 1
        }
        self.slots = slots
        self.endpoints = endpoints
    }

    @inline(__always)
    func next() -> PickedEndpoint? {
        let length = UInt64(slots.count)
        guard length > 0 else { return nil }
        let n = counter.loadThenWrappingIncrement(ordering: .relaxed)
        let slot = slots[Int(n % length)]
        let round = n / length
        let offset = (round &* slot.visitsPerCycle &+ slot.occurrence) % UInt64(slot.count)
        return endpoints[slot.start + Int(offset)]
    }

    /// The smooth weighted round-robin order of one cycle over `weights` (reduced by their gcd): each index
    /// appears exactly weight/gcd times, spread as evenly as the weights allow.
    static func smoothWeightedCycle(_ weights: [Int]) -> [Int] {
        let positive = weights.filter { $0 > 0 }
        guard !positive.isEmpty else { return [] }
        let divisor = positive.reduce(0) { gcd($0, $1) }
        let reduced = weights.map { max(0, $0) / divisor }
        let total = reduced.reduce(0, +)
        var current = [Int](repeating: 0, count: reduced.count)
        var cycle: [Int] = []
        cycle.reserveCapacity(total)
        for _ in 0..<total {
            var best = -1
            for i in reduced.indices where reduced[i] > 0 {
                current[i] += reduced[i]
                if best < 0 || current[i] > current[best] { best = i }
            }
            current[best] -= total
            cycle.append(best)
        }
        return cycle
    }

    static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
}
