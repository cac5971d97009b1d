import Prometheus

/// An agent's active health checks of its endpoints: how many, how they ended, how long they took.
final class ProbeMetrics: Sendable {
    let success: Counter
    let failure: Counter
    let successDuration: DurationHistogram
    let failureDuration: DurationHistogram

    init(registry: PrometheusCollectorRegistry) {
        let count = "Endpoint probes this agent ran, by result."
        success = registry.counter("zone_agent_probes_total", [("result", "success")], help: count)
        failure = registry.counter("zone_agent_probes_total", [("result", "failure")], help: count)
        let duration = "Time each endpoint probe took, by result (a failure that timed out takes the probe timeout)."
        successDuration = registry.histogram("zone_agent_probe_duration_seconds", [("result", "success")],
                                                         buckets: MetricBuckets.probe, help: duration)
        failureDuration = registry.histogram("zone_agent_probe_duration_seconds", [("result", "failure")],
                                                         buckets: MetricBuckets.probe, help: duration)
    }

    func probe(success ok: Bool, took: Duration) {
        (ok ? success : failure).increment()
        (ok ? successDuration : failureDuration).record(took)
    }
}
