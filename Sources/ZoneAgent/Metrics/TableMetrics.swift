import Prometheus
import Synchronization
import WeightTable

/// The gateway's routing table as metrics: its version and whether the gateway is isolated, each route's
/// clusters (configured and effective weight, endpoints, state), how long a rebuild takes, and the routing
/// events (failovers and failbacks apart from the slow-start steps between them).
final class TableMetrics: Sendable {
    let version: Gauge
    let isolated: Gauge
    let rebuild: DurationHistogram
    let digestsExpired: Gauge
    let changes: [RoutingChangeKind: Counter]
    private let registry: PrometheusCollectorRegistry
    /// The per-route series of the routes declared so far.
    private let routes = Mutex<[RoutingChangeLog.RouteCluster: RouteClusterSeries]>([:])

    /// The series of one cluster on one route.
    struct RouteClusterSeries: Sendable {
        let configured: Gauge
        let effective: Gauge
        let healthy: Gauge
        let endpoints: Gauge
        let state: [ClusterState: Gauge]
        let failovers: Counter
        let failbacks: Counter
    }

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        version = registry.gauge("zone_agent_table_version", help: "Version of the routing table in force; it rises whenever the table's content changes.")
        isolated = registry.gauge("zone_agent_gateway_isolated",
                                  help: "1 while the gateway is cut off from the mesh (no member answers its probes, or none is alive in its view) and serves what whenNoneHealthy says; else 0.")
        rebuild = registry.histogram("zone_agent_table_rebuild_seconds", buckets: MetricBuckets.rebuild,
                                     help: "Time to compute the routing table from the membership view and the digests.")
        digestsExpired = registry.gauge("zone_agent_digests_expired",
                                        help: "Digests of live agents that no longer vouch because their lease ran out (a stalled probe loop).")
        changes = Dictionary(uniqueKeysWithValues: RoutingChangeKind.allCases.map { kind in
            (kind, registry.counter("zone_agent_routing_changes_total", [("kind", kind.rawValue)],
                                    help: "Changes of a cluster's effective weight on a route, by kind; a failback's slow-start steps count as slow_start."))
        })
    }

    /// Makes every route's and cluster's series, at 0, before the first table; a route already declared keeps
    /// its series, and one no longer configured loses its gauges (its counters stay, as counters do).
    func declare(routes specs: [RouteSpec]) {
        let wanted = Set(specs.flatMap { spec in spec.clusters.map { RoutingChangeLog.RouteCluster(route: spec.id, cluster: $0) } })
        routes.withLock { series in
            for key in series.keys where !wanted.contains(key) {
                let gone = series.removeValue(forKey: key)!
                for gauge in [gone.configured, gone.effective, gone.healthy, gone.endpoints] + Array(gone.state.values) {
                    registry.unregisterGauge(gauge)
                }
            }
            for key in wanted where series[key] == nil {
                series[key] = makeSeries(key)
            }
        }
    }

    private func makeSeries(_ key: RoutingChangeLog.RouteCluster) -> RouteClusterSeries {
        let labels = [("route", key.route), ("cluster", key.cluster)]
        return RouteClusterSeries(
            configured: registry.gauge("zone_agent_configured_weight", labels, help: "A cluster's configured weight on a route (the Ingress annotation)."),
            effective: registry.gauge("zone_agent_effective_weight", labels, help: "A cluster's effective weight on a route: its share of the route's requests, in percent."),
            healthy: registry.gauge("zone_agent_endpoints_healthy", labels, help: "Endpoints of a cluster on a route that a live agent vouches healthy."),
            endpoints: registry.gauge("zone_agent_endpoints", labels, help: "Endpoints of a cluster on a route that its agents report, healthy or not."),
            state: Dictionary(uniqueKeysWithValues: ClusterState.allCases.map { state in
                (state, registry.gauge("zone_agent_cluster_state", labels + [("state", state.rawValue)],
                                       help: "1 for a cluster's state on a route (active, degraded, recovering, failed, drained), 0 for the others."))
            }),
            failovers: registry.counter("zone_agent_failovers_total", labels, help: "Times a cluster lost its whole share of a route because it failed."),
            failbacks: registry.counter("zone_agent_failbacks_total", labels,
                                        help: "Times a cluster that had failed took a share of a route again (its slow-start steps not counted)."))
    }

    /// Sets every gauge from a newly published table (`isolated` is set by each rebuild from its inputs: the
    /// table's own flag also covers every cluster failing, which is not the gateway being cut off).
    func published(_ table: RoutingTable) {
        version.set(Int64(truncatingIfNeeded: table.version))
        routes.withLock { series in
            for route in table.routes {
                for cluster in route.clusters {
                    let key = RoutingChangeLog.RouteCluster(route: route.spec.id, cluster: cluster.cluster)
                    if series[key] == nil { series[key] = makeSeries(key) }
                    let s = series[key]!
                    s.configured.set(Int64(cluster.configuredWeight))
                    s.effective.set(Int64(cluster.effectiveWeight))
                    s.healthy.set(Int64(cluster.healthyEndpoints))
                    s.endpoints.set(Int64(cluster.totalEndpoints))
                    for (state, gauge) in s.state { gauge.set(Int64(state == cluster.state ? 1 : 0)) }
                }
            }
        }
    }

    /// Counts classified routing changes.
    func changed(_ classified: [(change: WeightChange, kind: RoutingChangeKind)]) {
        for (change, kind) in classified {
            changes[kind]?.increment()
            guard kind == .failover || kind == .failback else { continue }
            let key = RoutingChangeLog.RouteCluster(route: change.route, cluster: change.cluster)
            let s = routes.withLock { $0[key] }
            if kind == .failover { s?.failovers.increment() } else { s?.failbacks.increment() }
        }
    }
}
