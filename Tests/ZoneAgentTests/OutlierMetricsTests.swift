import GatewayHTTP
import Prometheus
import WeightTable
import XCTest

@testable import ZoneAgent

/// The outlier and pinning series: at 0 from the start for every roster cluster, help on each, promtool clean, and a
/// cluster name a client made up never becomes a label.
final class OutlierMetricsTests: XCTestCase {
    func testSeriesStartAtZeroFollowTheDetectorAndPassPromtool() throws {
        let registry = PrometheusCollectorRegistry()
        let metrics = OutlierMetrics(registry: registry, clusters: ["c1", "c2"])
        var text = registry.emitToString()
        for series in [
            #"zone_agent_outlier_ejections_total{cluster="c1"} 0"#,
            #"zone_agent_outlier_ejected_endpoints{cluster="c2"} 0"#,
            #"zone_agent_outlier_cluster_demoted{cluster="c2"} 0"#,
            #"zone_agent_proxy_pinned_requests_total{cluster="c1",result="served"} 0"#,
            #"zone_agent_proxy_pinned_requests_total{cluster="unknown",result="unknown_cluster"} 0"#,
        ] {
            let parts = series.split(separator: " ")
            XCTAssertEqual(MetricsPage.value(text, String(parts[0])), Double(parts[1]), "missing at start: \(series)")
        }
        for family in ["zone_agent_outlier_ejections_total", "zone_agent_outlier_ejected_endpoints", "zone_agent_proxy_pinned_requests_total"] {
            XCTAssertTrue(text.contains("# HELP \(family) "), family)
        }

        let monitor = OutlierMonitor(policy: OutlierPolicy(consecutiveErrors: 2, maxEjectedPercent: 50, clusterErrorRate: nil),
                                     metrics: { metrics }, logger: .init(label: "test")) {}
        let route = RouteEntry(spec: RouteSpec(uncheckedHost: "", path: "/", pathType: .prefix, service: "ns/a", weights: ["c1": 100]),
                               clusters: [ClusterEntry(cluster: "c1", configuredWeight: 100, effectiveWeight: 100, healthyEndpoints: 2,
                                                       totalEndpoints: 2, state: .active, reason: "")], endpoints: [], failStatic: false)
        monitor.tablePublished(RoutingTable(version: 1, hash: "", generatedAtMillis: 0, isolated: false, routes: [route], changes: []))
        let bad = Upstream(cluster: "c1", host: "127.0.0.1", port: 1)
        let hooks = monitor.feeding(ProxyHooks())
        hooks.onUpstreamResponse?(bad, 502)
        hooks.onUpstreamFailure(bad, .leftTable)   // not the endpoint's fault: not counted
        hooks.onUpstreamFailure(bad, .connectFailed)
        metrics.pinned(cluster: "c2", result: PinResult.served.rawValue)
        metrics.pinned(cluster: "made-up", result: PinResult.unknownCluster.rawValue)
        text = registry.emitToString()
        XCTAssertEqual(MetricsPage.value(text, #"zone_agent_outlier_ejections_total{cluster="c1"}"#), 1)
        XCTAssertEqual(MetricsPage.value(text, #"zone_agent_outlier_ejected_endpoints{cluster="c1"}"#), 1)
        XCTAssertEqual(MetricsPage.value(text, #"zone_agent_proxy_pinned_requests_total{cluster="c2",result="served"}"#), 1)
        XCTAssertEqual(MetricsPage.value(text, #"zone_agent_proxy_pinned_requests_total{cluster="unknown",result="unknown_cluster"}"#), 1)
        XCTAssertFalse(text.contains("made-up"))
        try PromtoolCheck.metrics(text)
    }
}
