import Metrics
import Prometheus

/// The process's metrics: one Prometheus registry that `/metrics` renders, and the families of each concept
/// (mesh, probes, table, proxy, outputs, admin, process) made on it with their help text.
///
/// Every handle is made once, when its family is first touched (each daemon touches its role's families at
/// start, so every counter is there at 0 before its first event), and kept: a request or an event never looks a
/// handle up by name. Families with labels that come from the configuration (routes, clusters) are made when
/// the configuration is known (``TableMetrics/declare(routes:)``, ``ProxyMetrics/init(registry:clusters:)``).
enum ZoneMetrics {
    /// The registry `/metrics` renders. swift-metrics is bootstrapped onto it too, so a library that records
    /// through swift-metrics lands in the same page.
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()

    static let mesh = MeshMetrics(registry: registry)
    static let gossip = GossipTransportMetrics(registry: registry)
    static let probes = ProbeMetrics(registry: registry)
    static let table = TableMetrics(registry: registry)
    static let outputs = OutputMetrics(registry: registry)
    static let admin = AdminMetrics(registry: registry)
    static let process = ProcessMetrics(registry: registry, version: ZoneAgentVersion.current)
    static let config = ConfigMetrics(registry: registry)
    static let drains = DrainMetrics(registry: registry)

    /// Makes the families every role has, so they show at 0 from the first scrape.
    static func startAgent() {
        _ = (mesh, gossip, probes, admin, process, config)
        mesh.membersByState(["alive": 1])
    }

    /// Makes the gateway's families; the per-route ones need the routes (``TableMetrics/declare(routes:)``), and
    /// the proxy's are made with it (``ProxyMetrics``).
    static func startGateway() {
        _ = (mesh, gossip, table, outputs, admin, process, config)
        mesh.membersByState(["alive": 1])
    }

    /// The page `/metrics` serves: the process figures read now, then every family.
    static func render() -> [UInt8] {
        process.refresh()
        return registry.emitToBuffer()
    }

    /// A push to Envoy or HAProxy failed (it is retried).
    static func outputFailure(_ output: String) { outputs.failure(output) }

    /// Outputs (Envoy, HAProxy) that do not hold the newest table, because their last push failed and is being
    /// retried: alert when it stays above 0.
    static func outputsBehind(_ count: Int) { outputs.behind.set(Int64(count)) }

    /// Digests that no longer vouch because their lease ran out (a live agent whose probes stalled).
    static func digestsExpired(_ count: Int) { table.digestsExpired.set(Int64(count)) }
}

/// Histogram bucket sets, in seconds, each spanning what is normal to what is an incident for its quantity.
enum MetricBuckets {
    /// Endpoint probes: a loopback answer takes well under a millisecond; the probe timeout (500 ms by default,
    /// at most a few seconds) is the top.
    static let probe: [Duration] = seconds([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5])
    /// Proxy upstream answers: from sub-millisecond loopback to the 30 s response timeout.
    static let upstream: [Duration] = seconds([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30])
    /// Table rebuilds: the aim is 5 ms at 10k endpoints.
    static let rebuild: [Duration] = seconds([0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1])
    /// Digest age at arrival: gossip spreads in well under a second; digests are re-issued every few seconds and
    /// the digest lease is some tens of seconds.
    static let digestAge: [Duration] = seconds([0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60])
    /// First suspicion to dead: the suspicion timeout, about a second at `lan` on a small mesh and up to some
    /// tens of seconds at `wan` on a large one.
    static let detection: [Duration] = seconds([0.1, 0.25, 0.5, 1, 1.5, 2, 3, 4, 5, 7.5, 10, 15, 30, 60])

    private static func seconds(_ values: [Double]) -> [Duration] {
        values.map { .nanoseconds(Int64(($0 * 1e9).rounded())) }
    }
}

extension PrometheusCollectorRegistry {
    /// A counter of the family `name` with `labels`, made once with its help text (every series of a family
    /// shares the text).
    func counter(_ name: String, _ labels: [(String, String)] = [], help: String) -> Prometheus.Counter {
        makeCounter(descriptor: Self.descriptor(name, help), labels: labels)
    }

    func gauge(_ name: String, _ labels: [(String, String)] = [], help: String) -> Prometheus.Gauge {
        makeGauge(descriptor: Self.descriptor(name, help), labels: labels)
    }

    func histogram(_ name: String, _ labels: [(String, String)] = [], buckets: [Duration], help: String) -> DurationHistogram {
        makeDurationHistogram(descriptor: Self.descriptor(name, help), labels: labels, buckets: buckets)
    }

    /// The whole name is given as `metricName` (units included, as in `_seconds`), so it reads as it renders.
    private static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}
