// The border between the gateway's weight table and its built-in proxy: each published table becomes
// one ProxyTable, whose endpoints are converted to the proxy's `Upstream` once, when it is published.
import Atomics
import GatewayHTTP
import WeightTable

/// One published table as the proxy uses it: routes and picks by the table's ``EndpointPicker``, and
/// hands out the proxy's ``Upstream`` values made once for this table, so a pick converts nothing.
final class ProxyTable: UpstreamTable, AtomicReference {
    let table: RoutingTable
    private let picker: EndpointPicker
    /// `picker.pickableEndpoints` as upstreams, index for index.
    private let upstreams: [Upstream]

    init(table: RoutingTable) {
        self.table = table
        picker = EndpointPicker(table: table)
        upstreams = picker.pickableEndpoints.map { Upstream(cluster: $0.cluster, host: $0.host, port: $0.port) }
    }

    func route(host: String, path: String) -> Int? { picker.route(host: host, path: path) }

    func pick(route: Int) -> Upstream? { picker.pickIndex(route: route).map { upstreams[$0] } }

    func pickRetry(route: Int, excluding: Upstream) -> Upstream? {
        picker.retryIndex(route: route, cluster: excluding.cluster, host: excluding.host, port: excluding.port).map { upstreams[$0] }
    }
}

/// Routes proxy requests through whichever table the gateway published last. Publishing is one atomic
/// store and taking the table one atomic load: a request takes it once, when its head arrives, and
/// routes, picks and retries on it (``UpstreamSelector``), so no lock is on the request path and a
/// publication mid-request never mixes two tables.
final class TableSelector: UpstreamSelector {
    private let current: ManagedAtomic<ProxyTable>

    init(_ table: RoutingTable = .empty) {
        current = ManagedAtomic(ProxyTable(table: table))
    }

    func currentTable() -> any UpstreamTable { current.load(ordering: .acquiring) }

    /// The table requests are routed on now.
    var table: RoutingTable { current.load(ordering: .acquiring).table }

    /// Makes `table` the one new requests take; returns the upstreams it gives weight to, for
    /// ``WeightedProxy/tablePublished(live:)``.
    @discardableResult
    func publish(_ table: RoutingTable) -> Set<Upstream> {
        current.store(ProxyTable(table: table), ordering: .releasing)
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
