import Prometheus
import Synchronization

/// Live reloads: how many applied or were refused, and which file, key and problem a refusal names.
final class ConfigMetrics: Sendable {
    private let applied: Counter
    private let refused: Counter
    private let registry: PrometheusCollectorRegistry
    /// One gauge per (file, key, problem) a refusal named, so that fixing the file sets its series back to 0.
    private let refusals: Mutex<[[String]: Gauge]>

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        let help = "Configuration reloads (SIGHUP or a changed file) by result: applied, or refused while the running configuration keeps serving."
        applied = registry.counter("zone_agent_config_reloads_total", [("result", "applied")], help: help)
        refused = registry.counter("zone_agent_config_reloads_total", [("result", "refused")], help: help)
        refusals = Mutex([:])
    }

    func reload(applied ok: Bool) { (ok ? applied : refused).increment() }

    /// `zone_agent_config_refused{file,key,problem}`: 1 while the newest edit of that file is refused, 0 once an
    /// edit applies. An alert on it names what to fix.
    func refusal(file: String, key: String, problem: String, refused: Bool) {
        func label(_ text: String) -> String { String(text.map { $0 == "\n" || $0 == "\"" ? "'" : $0 }.prefix(200)) }
        let labels = [label(file), label(key), label(problem)]
        let gauge = refusals.withLock { gauges in
            if let gauge = gauges[labels] { return gauge }
            // Bounded: a file that keeps being edited badly names a new problem each time; keep the newest 64.
            if gauges.count >= 64, let oldest = gauges.keys.first { gauges[oldest] = nil }
            let gauge = registry.gauge("zone_agent_config_refused", [("file", labels[0]), ("key", labels[1]), ("problem", labels[2])],
                                       help: "1 while the newest edit of a configuration file is refused for this key and problem; 0 once an edit applies.")
            gauges[labels] = gauge
            return gauge
        }
        gauge.set(Int64(refused ? 1 : 0))
    }
}

extension ZoneMetrics {
    /// A reload (SIGHUP or a changed file) applied or refused.
    static func configReload(applied: Bool) { config.reload(applied: applied) }

    /// See ``ConfigMetrics/refusal(file:key:problem:refused:)``.
    static func configRefused(file: String, key: String, problem: String, refused: Bool) {
        config.refusal(file: file, key: key, problem: problem, refused: refused)
    }
}
