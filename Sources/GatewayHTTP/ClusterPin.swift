// Pinning a request to one cluster by a header (`proxy.pinHeader`), for debugging and for checking one cluster by
// hand. Off unless configured; then the header is looked up once per request and always removed before forwarding.
import NIOHTTP1

/// How a pinned request went, as counted.
public enum PinResult: String, Sendable, Hashable, CaseIterable {
    /// Sent to an endpoint of the pinned cluster.
    case served
    /// The cluster is one of the route's but has no healthy endpoint in the table: 503.
    case cannotServe = "cannot_serve"
    /// The route has no cluster of that name: 503 as well (a name that cannot serve this route, like any other).
    case unknownCluster = "unknown_cluster"
}

/// What a table answers for a pinned pick.
public enum PinnedPick: Sendable, Hashable {
    case upstream(Upstream)
    case cannotServe
    case unknownCluster
}

/// The pin header and what it is reported to.
struct ClusterPin: Sendable {
    /// The header's name, lower-case.
    let header: String
    let report: @Sendable (_ cluster: String, _ result: PinResult) -> Void

    /// The cluster the request pins, from the first of its pin headers (surrounding spaces removed); nil if none.
    func cluster(in headers: HTTPHeaders) -> String? {
        guard let value = headers.first(name: header) else { return nil }
        var name = Substring(value)
        while name.first == " " || name.first == "\t" { name.removeFirst() }
        while name.last == " " || name.last == "\t" { name.removeLast() }
        return String(name)
    }

    static let cannotServe: StaticString = "the cluster this request is pinned to has no healthy endpoint for its route\n"
    static let unknownCluster: StaticString = "the cluster this request is pinned to is not a cluster of its route\n"
}

extension UpstreamTable {
    /// Tables that know nothing of pinning (fixed tables in tests) know no cluster to pin.
    public func pickPinned(route: Int, cluster: String) -> PinnedPick { .unknownCluster }
}
