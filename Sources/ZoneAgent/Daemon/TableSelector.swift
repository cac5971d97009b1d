// The border between the gateway's weight table and its built-in proxy: each published table becomes
// one ProxyTable, whose endpoints are converted to the proxy's `Upstream` once, when it is published.
import Atomics
import Synchronization
import GatewayHTTP
import WeightTable

/// One published table as the proxy uses it: routes and picks by the table's ``EndpointPicker``, and
/// hands out the proxy's ``Upstream`` values made once for this table, so a pick converts nothing.
final class ProxyTable: UpstreamTable, AtomicReference {
    let table: RoutingTable
    private let picker: EndpointPicker
    /// `picker.pickableEndpoints` as upstreams, index for index.
    private let upstreams: [Upstream]
    /// Per route of the table, the status page's request counters by cluster (empty without a tally).
    private let counters: [[String: RequestTally.Count]]
    /// With pinning on, per route and cluster, the endpoints a pinned request may go to; empty otherwise.
    private let pinned: [[String: [Upstream]]]
    private let pinCounter = ManagedAtomic<UInt64>(0)
    /// `upstreams`' clusters as numbers, index for index, so a pick finds its counter without hashing a name.
    private let clusterNumbers: [Int]
    /// `counters` by cluster number: per route, the counter of each number (nil for a cluster the route lacks).
    private let countersByNumber: [[RequestTally.Count?]]

    init(table: RoutingTable, tally: RequestTally? = nil, pinning: Bool = false) {
        self.table = table
        picker = EndpointPicker(table: table)
        upstreams = picker.pickableEndpoints.map { Upstream(cluster: $0.cluster, host: $0.host, port: $0.port) }
        var numbers: [String: Int] = [:]
        clusterNumbers = upstreams.map { upstream in
            if let number = numbers[upstream.cluster] { return number }
            numbers[upstream.cluster] = numbers.count
            return numbers.count - 1
        }
        counters = tally?.counters(for: table) ?? []
        pinned = pinning ? table.routes.map(Self.pinnable) : []
        countersByNumber = counters.map { route in
            var row = [RequestTally.Count?](repeating: nil, count: numbers.count)
            for (cluster, number) in numbers { row[number] = route[cluster] }
            return row
        }
    }

    /// A route's endpoints by cluster, for pinned requests: those with weight and the standby ones; every cluster of
    /// the route has its entry, empty when it cannot serve.
    static func pinnable(_ route: RouteEntry) -> [String: [Upstream]] {
        var out = Dictionary(uniqueKeysWithValues: route.clusters.map { ($0.cluster, [Upstream]()) })
        for endpoint in route.endpoints + route.standby where out[endpoint.cluster] != nil {
            out[endpoint.cluster]?.append(Upstream(cluster: endpoint.cluster, host: endpoint.host, port: endpoint.port))
        }
        return out
    }

    func pickPinned(route: Int, cluster: String) -> PinnedPick {
        guard route < pinned.count, let choices = pinned[route][cluster] else { return .unknownCluster }
        guard !choices.isEmpty else { return .cannotServe }
        let n = pinCounter.loadThenWrappingIncrement(ordering: .relaxed)
        let upstream = choices[Int(n % UInt64(choices.count))]
        if route < counters.count { counters[route][upstream.cluster]?.value.add(1, ordering: .relaxed) }
        return .upstream(upstream)
    }

    func route(host: String, path: String) -> Int? { picker.route(host: host, path: path) }

    func pick(route: Int) -> Upstream? { counted(picker.pickIndex(route: route), route: route) }

    func pickRetry(route: Int, excluding: Upstream) -> Upstream? {
        counted(picker.retryIndex(route: route, cluster: excluding.cluster, host: excluding.host, port: excluding.port), route: route)
    }

    private func counted(_ index: Int?, route: Int) -> Upstream? {
        guard let index else { return nil }
        if route < countersByNumber.count { countersByNumber[route][clusterNumbers[index]]?.value.add(1, ordering: .relaxed) }
        return upstreams[index]
    }
}

/// Routes proxy requests through whichever table the gateway published last. Publishing is one atomic
/// store and taking the table one atomic load: a request takes it once, when its head arrives, and
/// routes, picks and retries on it (``UpstreamSelector``), so no lock is on the request path and a
/// publication mid-request never mixes two tables.
final class TableSelector: UpstreamSelector {
    private let current: ManagedAtomic<ProxyTable>
    /// Counts each pick per route and cluster, for the status page's actual shares.
    private let tally: RequestTally?
    /// `proxy.pinHeader` is set: each table keeps its endpoints by cluster for pinned requests.
    private let pinning: Bool

    init(_ table: RoutingTable = .empty, tally: RequestTally? = nil, pinning: Bool = false) {
        self.tally = tally
        self.pinning = pinning
        current = ManagedAtomic(ProxyTable(table: table, tally: tally, pinning: pinning))
    }

    func currentTable() -> any UpstreamTable { current.load(ordering: .acquiring) }

    /// The table requests are routed on now.
    var table: RoutingTable { current.load(ordering: .acquiring).table }

    /// Makes `table` the one new requests take; returns the upstreams it gives weight to, for
    /// ``WeightedProxy/tablePublished(live:)``.
    @discardableResult
    func publish(_ table: RoutingTable) -> Set<Upstream> {
        current.store(ProxyTable(table: table, tally: tally, pinning: pinning), ordering: .releasing)
        return Self.liveUpstreams(table)
    }

    /// The endpoints `table` gives weight to: those of clusters with an effective weight above zero on
    /// some route, the endpoints ``EndpointPicker`` picks from.
    static func liveUpstreams(_ table: RoutingTable) -> Set<Upstream> {
        var live: Set<Upstream> = []
        for route in table.routes {
            let weighted = Set(route.clusters.filter { $0.effectiveWeight > 0 }.map(\.cluster))
            for endpoint in route.endpoints where weighted.contains(endpoint.cluster) {
                live.insert(Upstream(cluster: endpoint.cluster, host: endpoint.host, port: endpoint.port))
            }
        }
        return live
    }
}
