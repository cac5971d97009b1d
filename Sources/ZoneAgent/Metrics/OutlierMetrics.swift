import Prometheus
import Synchronization

/// Passive outlier detection and cluster pinning: what this gateway took out of its own picker, and pinned requests.
///
/// The series of each roster cluster exist at 0 from the start; the pinned-request counter of a cluster name the
/// roster does not know is never made (a client chooses that name), it counts under `cluster="unknown"`.
final class OutlierMetrics: Sendable {
    private let ejections: [String: Counter]
    private let ejected: [String: Gauge]
    private let demoted: [String: Gauge]
    private let pinned: [String: [String: Counter]]

    /// The results a pinned request can have.
    static let pinResults = ["served", "cannot_serve", "unknown_cluster"]
    static let unknownCluster = "unknown"

    init(registry: PrometheusCollectorRegistry, clusters: [String]) {
        let names = Array(Set(clusters)).sorted()
        ejections = Dictionary(uniqueKeysWithValues: names.map { cluster in
            (cluster, registry.counter("zone_agent_outlier_ejections_total", [("cluster", cluster)],
                                       help: "Endpoints this gateway's passive outlier detection ejected from its own picker, per cluster."))
        })
        ejected = Dictionary(uniqueKeysWithValues: names.map { cluster in
            (cluster, registry.gauge("zone_agent_outlier_ejected_endpoints", [("cluster", cluster)],
                                     help: "Endpoints ejected from this gateway's picker now by passive outlier detection, per cluster."))
        })
        demoted = Dictionary(uniqueKeysWithValues: names.map { cluster in
            (cluster, registry.gauge("zone_agent_outlier_cluster_demoted", [("cluster", cluster)],
                                     help: "1 while this gateway demotes the cluster for the error rate of its requests, else 0."))
        })
        pinned = Dictionary(uniqueKeysWithValues: (names + [Self.unknownCluster]).map { cluster in
            (cluster, Dictionary(uniqueKeysWithValues: Self.pinResults.map { result in
                (result, registry.counter("zone_agent_proxy_pinned_requests_total", [("cluster", cluster), ("result", result)],
                                          help: "Requests pinned to a cluster by the proxy.pinHeader header, by cluster and result."))
            }))
        })
    }

    func ejection(cluster: String) { ejections[cluster]?.increment() }

    /// Sets the gauges from the counts now: every roster cluster, so a cluster that recovered goes back to 0.
    func current(ejected counts: [String: Int], demoted clusters: Set<String>) {
        for (cluster, gauge) in ejected { gauge.set(Int64(counts[cluster] ?? 0)) }
        for (cluster, gauge) in demoted { gauge.set(Int64(clusters.contains(cluster) ? 1 : 0)) }
    }

    func pinned(cluster: String, result: String) {
        (pinned[cluster] ?? pinned[Self.unknownCluster])?[result]?.increment()
    }
}
