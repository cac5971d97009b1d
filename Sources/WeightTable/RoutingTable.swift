/// The state of one cluster on one route, as the table reports it.
public enum ClusterState: String, Sendable, Hashable, Codable, CaseIterable {
    /// Every endpoint it reports is healthy and it has its full share.
    case active
    /// Partial capacity: some endpoints are unhealthy, so its share may shrink (overprovisioning rule).
    case degraded
    /// No live agent vouches for it, or none of its endpoints is healthy: effective weight 0.
    case failed
    /// Live again after a failure, held down and then ramping up to its share.
    case recovering
    /// An operator's drain order holds (`zone-agent drain`): effective weight 0 until it ends.
    case drained
}

/// One cluster's line in a route: configured against effective weight, and why.
public struct ClusterEntry: Sendable, Hashable {
    /// The cluster id.
    public var cluster: String
    /// The weight the route configures, 0–100.
    public var configuredWeight: Int
    /// The weight the gateway applies now, 0–100; a route's effective weights sum to 100 when any cluster can serve.
    public var effectiveWeight: Int
    /// Endpoints that some live agent of the cluster reports healthy.
    public var healthyEndpoints: Int
    /// Endpoints that the cluster's live agents report in any state; for a cluster no live agent vouches
    /// for, the endpoints its agents last reported before they stopped vouching (so `0/2` reads "both gone").
    public var totalEndpoints: Int
    /// The cluster's state on this route.
    public var state: ClusterState
    /// Why the cluster has its state and weight, for people.
    public var reason: String

    /// Creates a cluster line.
    public init(cluster: String, configuredWeight: Int, effectiveWeight: Int, healthyEndpoints: Int, totalEndpoints: Int, state: ClusterState, reason: String) {
        self.cluster = cluster
        self.configuredWeight = configuredWeight
        self.effectiveWeight = effectiveWeight
        self.healthyEndpoints = healthyEndpoints
        self.totalEndpoints = totalEndpoints
        self.state = state
        self.reason = reason
    }
}

/// One endpoint that receives traffic on a route, with its share.
///
/// The weight is the endpoint's share of the route's traffic in parts per million (`weightPPM`), so a route's
/// endpoint weights sum to exactly 1,000,000; JSON shows it in percent (`weight`, e.g. 50 or 33.3334), as
/// CONTRACT.md's `"weight": 50` for one of two endpoints of a 100% cluster.
public struct EndpointEntry: Sendable, Hashable {
    /// The cluster that serves the endpoint.
    public var cluster: String
    /// The endpoint's host (an IP address or a name).
    public var host: String
    /// The endpoint's port.
    public var port: UInt16
    /// The endpoint's share of the route's traffic in parts per million.
    public var weightPPM: Int

    /// Creates an endpoint line.
    public init(cluster: String, host: String, port: UInt16, weightPPM: Int) {
        self.cluster = cluster
        self.host = host
        self.port = port
        self.weightPPM = weightPPM
    }

    /// `host:port`, with brackets around an IPv6 host.
    public var address: String { host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// The share of the route's traffic in percent (up to four decimals).
    public var weightPercent: Double { Double(weightPPM) / 10_000 }
}

/// One route of the table: what it matches, how its clusters are weighted and which endpoints serve it.
public struct RouteEntry: Sendable, Hashable {
    /// The route as configured.
    public var spec: RouteSpec
    /// One line per configured cluster, sorted by cluster name.
    public var clusters: [ClusterEntry]
    /// The endpoints that receive traffic, sorted by cluster, host and port.
    public var endpoints: [EndpointEntry]
    /// No cluster can serve this route now, so its last good weights and endpoints are kept (fail static).
    public var failStatic: Bool
    /// The `whenNoneHealthy` rule the route is served by now, because no cluster can serve it or the gateway is
    /// isolated; nil while some cluster serves.
    public var fallback: TrafficPolicy.NoneHealthy?
    /// The healthy endpoints of clusters that could serve but have no weight now (a lower priority, weight 0, a
    /// hold-down), weight 0 each: what a request pinned to such a cluster goes to (`proxy.pinHeader`). Not hashed.
    public var standby: [EndpointEntry]

    /// Creates a route line.
    public init(spec: RouteSpec, clusters: [ClusterEntry], endpoints: [EndpointEntry], failStatic: Bool,
                fallback: TrafficPolicy.NoneHealthy? = nil, standby: [EndpointEntry] = []) {
        self.standby = standby
        self.spec = spec
        self.clusters = clusters
        self.endpoints = endpoints
        self.failStatic = failStatic
        self.fallback = fallback
    }

    /// Whether some cluster has weight: requests on this route can be sent somewhere.
    public var canServe: Bool { clusters.contains { $0.effectiveWeight > 0 } && !endpoints.isEmpty }
}

/// A recorded change of one cluster's effective weight on one route, with its reason.
public struct WeightChange: Sendable, Hashable {
    /// Wall-clock milliseconds since the Unix epoch of the rebuild that made the change.
    public var atMillis: UInt64
    /// The route's id (`RouteSpec.id`).
    public var route: String
    /// The cluster whose weight changed.
    public var cluster: String
    /// The effective weight before.
    public var from: Int
    /// The effective weight after.
    public var to: Int
    /// Why it changed.
    public var reason: String

    /// Creates a change record.
    public init(atMillis: UInt64, route: String, cluster: String, from: Int, to: Int, reason: String) {
        self.atMillis = atMillis
        self.route = route
        self.cluster = cluster
        self.from = from
        self.to = to
        self.reason = reason
    }
}

/// The weighted routing table: the gateway's answer to where each request goes.
public struct RoutingTable: Sendable, Hashable {
    /// Increases when the content changes (not on every rebuild).
    public var version: UInt64
    /// BLAKE2b-256 hex over the canonical encoding of routes, effective weights and endpoint weights; two
    /// gateways that have converged on the same state report the same hash.
    public var hash: String
    /// Wall-clock milliseconds since the Unix epoch of the rebuild that produced this table.
    public var generatedAtMillis: UInt64
    /// Fail static is in effect for the whole table: the gateway is isolated or no cluster can serve anything.
    public var isolated: Bool
    /// The routes, sorted by host, path and path type; `EndpointPicker` route indices refer to this order.
    public var routes: [RouteEntry]
    /// The most recent weight changes, oldest first.
    public var changes: [WeightChange]

    /// Creates a table; `TableBuilder` is the usual way.
    public init(version: UInt64, hash: String, generatedAtMillis: UInt64, isolated: Bool, routes: [RouteEntry], changes: [WeightChange]) {
        self.version = version
        self.hash = hash
        self.generatedAtMillis = generatedAtMillis
        self.isolated = isolated
        self.routes = routes
        self.changes = changes
    }

    /// An empty table (version 0), the starting point before the first rebuild.
    public static let empty = RoutingTable(version: 0, hash: TableHash.hash(of: []), generatedAtMillis: 0, isolated: false, routes: [], changes: [])
}
