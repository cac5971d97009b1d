import GatewayHTTP
import Prometheus
import Synchronization

/// The built-in proxy's requests, retries, failed tries and upstream latency, per cluster.
///
/// The proxy's hooks run on its event loops once per response, so the handles are looked up, never made, on
/// that path: each cluster's series are made at start, and a status code's counter the first time that code is
/// answered.
final class ProxyMetrics: Sendable {
    /// The series of one cluster ("none" for answers the proxy made itself).
    final class ClusterSeries: Sendable {
        let cluster: String
        let latency: DurationHistogram
        let failures: [String: Counter]
        let retries: [String: Counter]
        /// The counters of the codes made at start, read without a lock: nearly every response has one of them.
        private let initialStatuses: [UInt: Counter]
        /// Counters of other codes, made on first use.
        private let statuses = Mutex<[UInt: Counter]>([:])
        private let registry: PrometheusCollectorRegistry

        init(cluster: String, registry: PrometheusCollectorRegistry) {
            self.cluster = cluster
            self.registry = registry
            let labels = [("cluster", cluster)]
            latency = registry.histogram("zone_agent_proxy_upstream_latency_seconds", labels, buckets: MetricBuckets.upstream,
                                         help: "Time from the whole request written to an upstream to its response head, per cluster.")
            failures = Dictionary(uniqueKeysWithValues: ProxyMetrics.failureReasons.map { reason in
                (reason.rawValue, registry.counter("zone_agent_proxy_upstream_failures_total", labels + [("reason", reason.rawValue)],
                                                   help: "Tries against an upstream that failed, per cluster and reason."))
            })
            retries = Dictionary(uniqueKeysWithValues: ProxyMetrics.failureReasons.map { reason in
                (reason.rawValue, registry.counter("zone_agent_proxy_retries_total", [("from", cluster), ("reason", reason.rawValue)],
                                                   help: "Requests retried on another upstream, by the cluster of the failed try and how it failed."))
            })
            // The answers an operator alerts on exist from the start; other codes appear when first answered.
            let initial: [UInt] = cluster == ProxyMetrics.local ? [400, 404, 502, 503, 504] : [200, 502, 503, 504]
            initialStatuses = Dictionary(uniqueKeysWithValues: initial.map { ($0, Self.requestCounter(registry, cluster, $0)) })
        }

        /// The request counter of `status`, made on first use.
        func requests(status: UInt) -> Counter {
            // Both event loops answer through the same series: a lock here was one more shared cache line per response.
            if let counter = initialStatuses[status] { return counter }
            return statuses.withLock { counters in
                if let counter = counters[status] { return counter }
                let counter = Self.requestCounter(registry, cluster, status)
                counters[status] = counter
                return counter
            }
        }

        private static func requestCounter(_ registry: PrometheusCollectorRegistry, _ cluster: String, _ status: UInt) -> Counter {
            registry.counter("zone_agent_proxy_requests_total", [("cluster", cluster), ("status", String(status))],
                             help: "Responses the proxy sent, by the cluster that answered (none: the proxy itself) and status code.")
        }
    }

    /// Every way a try can fail, so each series exists at 0 (`UpstreamFailure`'s cases).
    static let failureReasons: [UpstreamFailure] = [
        .connectFailed, .connectTimeout, .closedBeforeResponse, .responseTimeout, .closedMidResponse, .leftTable, .perTryTimeout,
    ]

    /// The `cluster` label of answers the proxy made itself (404, 503, ...).
    static let local = "none"

    private let registry: PrometheusCollectorRegistry
    /// The configured clusters' series, fixed at start so the response path reads them without a lock.
    private let known: [String: ClusterSeries]
    /// The same series as a list: a roster has a few clusters, and comparing a short name is cheaper
    /// than hashing it (this runs twice per response).
    private let knownList: [ClusterSeries]
    /// Clusters outside the roster (none, as routes name roster clusters only): made on first sight.
    private let others = Mutex<[String: ClusterSeries]>([:])

    /// Makes the series of `clusters` (the trust roster's) and of the proxy's own answers, at 0.
    init(registry: PrometheusCollectorRegistry, clusters: [String]) {
        self.registry = registry
        known = Dictionary((clusters + [Self.local]).map { ($0, ClusterSeries(cluster: $0, registry: registry)) },
                           uniquingKeysWith: { first, _ in first })
        knownList = known.count <= 16 ? Array(known.values) : []
    }

    func series(_ cluster: String?) -> ClusterSeries {
        let name = cluster ?? Self.local
        for series in knownList where series.cluster == name { return series }
        if let series = known[name] { return series }
        return others.withLock { all in
            if let series = all[name] { return series }
            let series = ClusterSeries(cluster: name, registry: registry)
            all[name] = series
            return series
        }
    }

    /// The hooks that feed these metrics from the proxy.
    func hooks() -> ProxyHooks {
        ProxyHooks(
            onResponse: { cluster, status in self.series(cluster).requests(status: status).increment() },
            onRetry: { from, _, reason in self.series(from).retries[reason.rawValue]?.increment() },
            onUpstreamFailure: { upstream, reason in self.series(upstream.cluster).failures[reason.rawValue]?.increment() },
            onUpstreamLatency: { cluster, waited in
                self.series(cluster).latency.record(max(.zero, waited))
            })
    }
}
