// What the proxy needs from the gateway's weight table, and what it reports back for metrics.

/// One endpoint a request can be sent to, and the cluster it belongs to.
public struct Upstream: Hashable, Sendable {
    /// The cluster the endpoint belongs to; it is what `x-zone-cluster` names.
    public let cluster: String
    /// The endpoint's IP address or host name.
    public let host: String
    /// The endpoint's TCP port.
    public let port: UInt16
    /// The hash of the three, made once with the upstream: the proxy's pool looks an upstream up twice a request,
    /// and hashing its two strings each time cost about 1 k instructions a request (callgrind). Upstreams are made
    /// when a table is built, not per request.
    private let fieldsHash: Int

    /// Creates an upstream.
    public init(cluster: String, host: String, port: UInt16) {
        self.cluster = cluster
        self.host = host
        self.port = port
        var hasher = Hasher()
        hasher.combine(cluster)
        hasher.combine(host)
        hasher.combine(port)
        fieldsHash = hasher.finalize()
    }

    public static func == (a: Upstream, b: Upstream) -> Bool {
        a.fieldsHash == b.fieldsHash && a.port == b.port && a.host == b.host && a.cluster == b.cluster
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(fieldsHash)
    }
}

/// One published routing table, as the proxy uses it: a request routes, picks and retries on the
/// table it took when its head arrived, even when a newer one is published meanwhile.
///
/// The proxy calls these from its event loops, concurrently, so implementations must be thread-safe
/// and quick (O(1) work, no lock).
public protocol UpstreamTable: AnyObject, Sendable {
    /// The route index for a request: match by Host (port ignored) and path; nil → 404.
    func route(host: String, path: String) -> Int?
    /// The next upstream of a route by its weights; nil → 503 (nothing can serve).
    func pick(route: Int) -> Upstream?
    /// For the one retry: an upstream of another cluster where one has weight, else another upstream; nil if none.
    func pickRetry(route: Int, excluding: Upstream) -> Upstream?
    /// For a request pinned to `cluster` (`proxy.pinHeader`): the next endpoint of that cluster on the route,
    /// whatever its weight, if the table has a healthy one.
    func pickPinned(route: Int, cluster: String) -> PinnedPick
}

/// Where the proxy takes the current table from; the gateway publishes each new table with one atomic store.
public protocol UpstreamSelector: Sendable {
    /// The table in force now: one atomic load, called once per request.
    func currentTable() -> any UpstreamTable
}

extension UpstreamSelector where Self: UpstreamTable {
    /// A selector that is its own table never changes table (fixed tables in tests and benchmarks).
    public func currentTable() -> any UpstreamTable { self }
}

/// A request's route in the table the request took: everything the request asks of the table goes
/// through here, so the route, the pick and the retry cannot come from two tables.
struct RouteHandle {
    let table: any UpstreamTable
    let route: Int
    /// The cluster the request is pinned to: its retry stays there.
    var pinned: String?

    /// Routes a request in `table`; nil → 404.
    init?(table: any UpstreamTable, host: String, path: String) {
        guard let route = table.route(host: host, path: path) else { return nil }
        self.table = table
        self.route = route
    }

    func pick() -> Upstream? { table.pick(route: route) }

    /// Picks for the retry drawn this many times at most to pass over unreachable endpoints: the table's retry picks
    /// go round the other clusters by weight, so one of them not cut comes up within a few draws.
    static let retryDraws = 4

    /// The upstream for the one retry, avoiding the endpoints in `unreachable` (other requests could not connect to
    /// them a moment ago) where it can. (Passed in, not held: a field more in every request's route made each copy
    /// of the request a `memcpy`, 1.5 k instructions a request, callgrind.)
    func pickRetry(excluding: Upstream, avoiding unreachable: UnreachableUpstreams? = nil) -> Upstream? {
        guard let pinned else {
            guard let unreachable else { return table.pickRetry(route: route, excluding: excluding) }
            var first: Upstream?
            for _ in 0..<Self.retryDraws {
                guard let next = table.pickRetry(route: route, excluding: excluding) else { break }
                if !unreachable.contains(next) { return next }
                if first == nil { first = next }
            }
            // Every draw unreachable: still worth the one retry, the memory may be stale.
            return first
        }
        // A pinned request is retried on another endpoint of its cluster only, or not at all.
        if case .upstream(let next) = table.pickPinned(route: route, cluster: pinned), next != excluding { return next }
        return nil
    }
}

/// How a try against an upstream went wrong.
public enum UpstreamFailure: String, Sendable, Hashable {
    /// The TCP connection was refused or failed.
    case connectFailed = "connect_failed"
    /// The TCP connection did not complete within the connect timeout.
    case connectTimeout = "connect_timeout"
    /// The connection closed before any response byte arrived (a stale keep-alive connection or a dead backend).
    case closedBeforeResponse = "closed_before_response"
    /// No response head arrived within the response timeout, or the upstream stopped taking the request
    /// body for the request body timeout (the client got 504 either way).
    case responseTimeout = "response_timeout"
    /// The connection closed partway through the response: the client got 502 when nothing had been
    /// forwarded yet (a small response is held until complete), else its connection was closed too.
    case closedMidResponse = "closed_mid_response"
    /// The proxy gave the try up because a newly published table no longer gives its endpoint weight
    /// (its cluster was dropped, or the endpoint itself), before any response byte arrived.
    case leftTable = "left_table"
    /// No response head arrived within the per-try timeout (`perTryTimeout`); the proxy gave the try up.
    case perTryTimeout = "per_try_timeout"
}

/// Callbacks through which the daemon counts what the proxy does, without this module depending on
/// swift-metrics.
///
/// They run on the proxy's event loops, once per event, so they must be quick and thread-safe.
public struct ProxyHooks: Sendable {
    /// A response went to the client; `cluster` is nil for answers the proxy made itself (400, 404, 408,
    /// 417, 502, 503, 504; a connection shed at the connection limit counts as a 503).
    public var onResponse: @Sendable (_ cluster: String?, _ status: UInt) -> Void
    /// A request is being retried on another upstream; `reason` is how its try ended (a connect that
    /// failed or timed out, a close before any response byte, the table dropping the endpoint, the
    /// per-try timeout).
    public var onRetry: @Sendable (_ fromCluster: String, _ toCluster: String, _ reason: UpstreamFailure) -> Void
    /// A try against an upstream failed.
    public var onUpstreamFailure: @Sendable (_ upstream: Upstream, _ failure: UpstreamFailure) -> Void
    /// An upstream's response head arrived, `waited` after the whole request was written to it.
    public var onUpstreamLatency: @Sendable (_ cluster: String, _ waited: Duration) -> Void = { _, _ in }
    /// An upstream's response head arrived, from `upstream`, with `status` (passive outlier detection); nil, the
    /// default, costs the response path one nil check.
    public var onUpstreamResponse: (@Sendable (_ upstream: Upstream, _ status: UInt) -> Void)?
    /// A request pinned to `cluster` by the pin header was served, or answered 503 (``PinResult``); `cluster` is
    /// the header's value, which any client chooses.
    public var onPinned: (@Sendable (_ cluster: String, _ result: PinResult) -> Void)?

    /// Creates hooks; each defaults to doing nothing.
    public init(
        onResponse: @escaping @Sendable (_ cluster: String?, _ status: UInt) -> Void = { _, _ in },
        onRetry: @escaping @Sendable (_ fromCluster: String, _ toCluster: String, _ reason: UpstreamFailure) -> Void = { _, _, _ in },
        onUpstreamFailure: @escaping @Sendable (_ upstream: Upstream, _ failure: UpstreamFailure) -> Void = { _, _ in },
        onUpstreamLatency: @escaping @Sendable (_ cluster: String, _ waited: Duration) -> Void = { _, _ in }
    ) {
        self.onUpstreamLatency = onUpstreamLatency
        self.onResponse = onResponse
        self.onRetry = onRetry
        self.onUpstreamFailure = onUpstreamFailure
    }
}
