import Prometheus
import Synchronization

/// The external outputs (Envoy's EDS files, HAProxy's runtime API): failed pushes, and how many are behind.
final class OutputMetrics: Sendable {
    /// The outputs a gateway can feed, made at start so each failure series exists at 0.
    static let names = ["envoy", "haproxy"]

    let behind: Gauge
    private let registry: PrometheusCollectorRegistry
    private let failures: Mutex<[String: Counter]>

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        behind = registry.gauge("zone_agent_outputs_behind",
                                help: "Outputs (Envoy, HAProxy) that do not hold the newest table because their last push failed and is being retried.")
        failures = Mutex([:])
        for name in Self.names { failure(name, by: 0) }
    }

    /// Counts a failed push to `output`.
    func failure(_ output: String, by count: Int64 = 1) {
        let counter = failures.withLock { counters in
            if let counter = counters[output] { return counter }
            let counter = registry.counter("zone_agent_output_failures_total", [("output", output)],
                                           help: "Pushes of the table to an external output that failed (each is retried).")
            counters[output] = counter
            return counter
        }
        if count > 0 { counter.increment(by: count) }
    }
}
