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
/// swapped in through `PickerBox` (one atomic store).
///
/// Everything a pick touches lives in flat arrays owned by the picker, and the counters in one block of
/// raw atomics, so a pick costs one atomic increment, two divisions and no reference counting of its own.
public final class EndpointPicker: Sendable {
    /// One cycle: a range of `slots` and the range of `endpoints` it draws from.
    struct Cycle: Sendable {
        var slotStart: Int
        var slotCount: Int
        var endpointStart: Int
        var endpointCount: Int
        var counter: Int
    }

    /// One position of a cycle: which endpoints it draws from, and which of that cluster's visits it is.
    struct Slot: Sendable {
        var start: UInt32
        var count: UInt32
        var visitsPerCycle: UInt32
        var occurrence: UInt32
    }

    /// The table this picker was built from.
    public let table: RoutingTable
    private let matcher: RouteMatcher
    /// Per route, its cycle; retry cycles follow, referenced from `retryCycles`.
    private let cycles: [Cycle]
    private let retryCycles: [[String: Int]]
    private let slots: [Slot]
    private let endpoints: [PickedEndpoint]
    private let counters: CounterBlock

    /// Builds the picker for `table`.
    public init(table: RoutingTable) {
        self.table = table
        self.matcher = RouteMatcher(routes: table.routes.map(\.spec))
        var builder = CycleBuilder()
        var cycles: [Cycle] = []
        var retryCycles: [[String: Int]] = []
        // Retry cycles go after every main cycle, so route `i`'s main cycle is `cycles[i]`.
        var retries: [(route: Int, cluster: String, cycle: Cycle)] = []
        for (index, route) in table.routes.enumerated() {
            var cycle = builder.add(route)
            cycle.counter = index
            cycles.append(cycle)
            for cluster in route.clusters where cluster.effectiveWeight > 0 {
                let retry = builder.addRetry(route, excluding: cluster.cluster)
                if retry.slotCount > 0 { retries.append((index, cluster.cluster, retry)) }
            }
        }
        retryCycles = Array(repeating: [:], count: table.routes.count)
        for (route, cluster, cycle) in retries {
            var cycle = cycle
            cycle.counter = cycles.count
            retryCycles[route][cluster] = cycles.count
            cycles.append(cycle)
        }
        // One more counter per route for retries within a single serving cluster.
        self.counters = CounterBlock(count: cycles.count + table.routes.count)
        self.cycles = cycles
        self.retryCycles = retryCycles
        self.slots = builder.slots
        self.endpoints = builder.endpoints
    }

    /// The index of the route matching host (port ignored, case-insensitive) and path: Exact before Prefix, longest path wins; nil → 404.
    public func route(host: String, path: String) -> Int? {
        matcher.route(host: host, path: path)
    }

    /// The next endpoint of route `route` by its effective weights; nil → 503 (nothing can serve).
    public func pick(route: Int) -> PickedEndpoint? {
        pickIndex(route: route).map { endpoints[$0] }
    }

    /// For a retry: the next endpoint not in `excludingCluster` if another cluster has any weight, else another endpoint (different host:port from `excluding`) of any cluster; nil if none.
    public func pickRetry(route: Int, excluding: PickedEndpoint) -> PickedEndpoint? {
        retryIndex(route: route, cluster: excluding.cluster, host: excluding.host, port: excluding.port).map { endpoints[$0] }
    }

    /// The endpoints picks are drawn from, in the order ``pickIndex(route:)`` and
    /// ``retryIndex(route:cluster:host:port:)`` index them: a consumer with its own endpoint type (the
    /// proxy's) converts these once per table and picks by index, with no conversion per request.
    public var pickableEndpoints: [PickedEndpoint] { endpoints }

    /// ``pick(route:)`` as an index into ``pickableEndpoints``.
    public func pickIndex(route: Int) -> Int? {
        guard route >= 0 && route < retryCycles.count else { return nil }
        return next(cycles[route])
    }

    /// ``pickRetry(route:excluding:)`` as an index into ``pickableEndpoints``, the excluded endpoint
    /// given by its cluster and address.
    public func retryIndex(route: Int, cluster: String, host: String, port: UInt16) -> Int? {
        guard route >= 0 && route < retryCycles.count else { return nil }
        if let other = retryCycles[route][cluster] { return next(cycles[other]) }
        let cycle = cycles[route]
        let serving = cycle.endpointStart..<(cycle.endpointStart + cycle.endpointCount)
        // The excluded cluster has no weight here: the ordinary cycle never picks it anyway.
        if !endpoints[serving].contains(where: { $0.cluster == cluster }) { return next(cycle) }
        // It is the only cluster with weight: another of its endpoints is the best a retry can do.
        let counter = counters.atomic(cycles.count + route)
        let start = Int(counter.loadThenWrappingIncrement(ordering: .relaxed) % UInt64(serving.count))
        for step in 0..<serving.count {
            let index = serving.lowerBound + (start + step) % serving.count
            if endpoints[index].host != host || endpoints[index].port != port { return index }
        }
        return nil
    }

    /// The number of routes.
    public var routeCount: Int { retryCycles.count }

    @inline(__always)
    private func next(_ cycle: Cycle) -> Int? {
        guard cycle.slotCount > 0 else { return nil }
        let n = counters.atomic(cycle.counter).loadThenWrappingIncrement(ordering: .relaxed)
        let (round, position) = n.quotientAndRemainder(dividingBy: UInt64(cycle.slotCount))
        let slot = slots[cycle.slotStart &+ Int(truncatingIfNeeded: position)]
        let offset = (round &* UInt64(slot.visitsPerCycle) &+ UInt64(slot.occurrence)) % UInt64(slot.count)
        return Int(slot.start) &+ Int(truncatingIfNeeded: offset)
    }

    /// Lays cycles out in the shared slot and endpoint arrays.
    struct CycleBuilder {
        var slots: [Slot] = []
        var endpoints: [PickedEndpoint] = []
        /// Where each cluster's endpoints of the route last added start, so its retry cycles share them.
        private var spansByCluster: [String: (start: Int, count: Int)] = [:]

        /// Adds the route's cycle over every cluster with weight, laying out their endpoints.
        mutating func add(_ route: RouteEntry) -> Cycle {
            let endpointStart = endpoints.count
            spansByCluster = [:]
            for cluster in route.clusters where cluster.effectiveWeight > 0 {
                let start = endpoints.count
                for endpoint in route.endpoints where endpoint.cluster == cluster.cluster {
                    endpoints.append(PickedEndpoint(cluster: endpoint.cluster, host: endpoint.host, port: endpoint.port))
                }
                if endpoints.count > start { spansByCluster[cluster.cluster] = (start, endpoints.count - start) }
            }
            var cycle = addSlots(route, excluding: nil)
            cycle.endpointStart = endpointStart
            cycle.endpointCount = endpoints.count - endpointStart
            return cycle
        }

        /// Adds a retry cycle of the route last added, over every cluster with weight but `excluded`; it
        /// draws from the same endpoints, so retries cost slots, not copies.
        mutating func addRetry(_ route: RouteEntry, excluding excluded: String) -> Cycle {
            addSlots(route, excluding: excluded)
        }

        private mutating func addSlots(_ route: RouteEntry, excluding excluded: String?) -> Cycle {
            var spans: [(start: Int, count: Int, weight: Int)] = []
            for cluster in route.clusters where cluster.effectiveWeight > 0 && cluster.cluster != excluded {
                if let span = spansByCluster[cluster.cluster] { spans.append((span.start, span.count, cluster.effectiveWeight)) }
            }
            let order = EndpointPicker.smoothWeightedCycle(spans.map(\.weight))
            var visits = [UInt32](repeating: 0, count: spans.count)
            for index in order { visits[index] += 1 }
            var seen = [UInt32](repeating: 0, count: spans.count)
            let slotStart = slots.count
            for index in order {
                slots.append(Slot(start: UInt32(truncatingIfNeeded: spans[index].start), count: UInt32(truncatingIfNeeded: spans[index].count),
                                  visitsPerCycle: visits[index], occurrence: seen[index]))
                seen[index] += 1
            }
            return Cycle(slotStart: slotStart, slotCount: order.count, endpointStart: 0, endpointCount: 0, counter: 0)
        }
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

/// A block of atomic counters, one per cache line so threads picking on different routes do not contend.
///
/// `@unchecked Sendable`: the memory is only ever read and written through atomic operations, allocated
/// before the owning picker is shared and freed when the picker, its only owner, is deinitialised.
final class CounterBlock: @unchecked Sendable {
    private static let stride = 8  // 8 × 8 bytes = one 64-byte cache line per counter
    private let base: UnsafeMutablePointer<UnsafeAtomic<UInt64>.Storage>
    private let count: Int

    init(count: Int) {
        self.count = max(1, count)
        base = .allocate(capacity: self.count * Self.stride)
        for i in 0..<(self.count * Self.stride) { (base + i).initialize(to: UnsafeAtomic<UInt64>.Storage(0)) }
    }

    deinit {
        base.deinitialize(count: count * Self.stride)
        base.deallocate()
    }

    @inline(__always)
    func atomic(_ index: Int) -> UnsafeAtomic<UInt64> {
        UnsafeAtomic(at: base + index &* Self.stride)
    }
}
