import Prometheus
import Synchronization
import Wire

/// Operators' drain orders as metrics: `zone_agent_drains{cluster,route}` is 1 while a drain holds and 0 once it
/// ended or was undone, for as long as the gateway keeps the order (`DrainRules.keptUntil`); `route="*"` is a drain
/// of every route.
final class DrainMetrics: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let gauges = Mutex<[DrainTarget: Gauge]>([:])

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    /// Sets the series from the orders held at `nowMillis`; the series of an order no longer held goes away.
    func update(_ drains: [SignedDrain], nowMillis: UInt64) {
        let held = Dictionary(drains.map { ($0.drain.target, $0.drain) }, uniquingKeysWith: { a, _ in a })
        gauges.withLock { gauges in
            for (target, gauge) in gauges where held[target] == nil {
                registry.unregisterGauge(gauge)
                gauges[target] = nil
            }
            for (target, drain) in held {
                let gauge = gauges[target] ?? registry.gauge(
                    "zone_agent_drains", [("cluster", target.cluster), ("route", target.route.isEmpty ? "*" : target.route)],
                    help: "1 while an operator's drain order takes a cluster's share away (route * = every route), 0 once it ended or was undone.")
                gauges[target] = gauge
                gauge.set(Int64(drain.isInForce(atMillis: nowMillis) ? 1 : 0))
            }
        }
    }
}
