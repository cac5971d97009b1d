import GossipNIO
import Metrics
import Prometheus

/// The process's metrics: swift-metrics handles backed by one Prometheus registry that `/metrics` renders.
enum ZoneMetrics {
    /// Bootstraps swift-metrics once per process and returns the registry to render.
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()

    static func membersByState(_ counts: [String: Int]) {
        for state in ["alive", "suspect", "dead", "left"] {
            Gauge(label: "zone_agent_members", dimensions: [("state", state)]).record(counts[state] ?? 0)
        }
    }

    static func probe(success: Bool) {
        Counter(label: "zone_agent_probes_total", dimensions: [("result", success ? "success" : "failure")]).increment()
    }

    static func memberChanged(to state: String) {
        if state == "suspect" { Counter(label: "zone_agent_suspicions_total").increment() }
        Counter(label: "zone_agent_member_transitions_total", dimensions: [("to", state)]).increment()
    }

    static func digestAccepted() { Counter(label: "zone_agent_digests_accepted_total").increment() }

    /// A member name found in use by two running processes (each conflict counted once where it is seen).
    static func nameConflict() { Counter(label: "zone_agent_name_conflicts_total").increment() }

    static func recordRejected(reason: String) {
        Counter(label: "zone_agent_records_rejected_total", dimensions: [("reason", reason)]).increment()
    }

    /// Adds what the gossip transport counted since `previous`.
    static func gossip(_ now: GossipCounters, since previous: GossipCounters) {
        func add(_ label: String, _ dimensions: [(String, String)], _ a: UInt64, _ b: UInt64) {
            // Created even at zero, so a scrape shows the series before the first packet.
            Counter(label: label, dimensions: dimensions).increment(by: Int(truncatingIfNeeded: a &- b))
        }
        add("zone_agent_gossip_bytes_total", [("direction", "sent")], now.bytesSent, previous.bytesSent)
        add("zone_agent_gossip_bytes_total", [("direction", "received")], now.bytesReceived, previous.bytesReceived)
        add("zone_agent_gossip_packets_total", [("direction", "sent")], now.packetsSent, previous.packetsSent)
        add("zone_agent_gossip_packets_total", [("direction", "received")], now.packetsReceived, previous.packetsReceived)
        add("zone_agent_state_syncs_total", [("result", "completed")], now.syncsCompleted, previous.syncsCompleted)
        add("zone_agent_state_syncs_total", [("result", "failed")], now.syncsFailed, previous.syncsFailed)
        add("zone_agent_packets_dropped_total", [("reason", "any")], now.dropped.values.reduce(0, +), previous.dropped.values.reduce(0, +))
        for (reason, count) in now.dropped {
            add("zone_agent_packets_dropped_total", [("reason", reason)], count, previous.dropped[reason] ?? 0)
        }
    }

    static func table(version: UInt64, weights: [(route: String, cluster: String, weight: Int)]) {
        Gauge(label: "zone_agent_table_version").record(Int64(truncatingIfNeeded: version))
        for w in weights {
            Gauge(label: "zone_agent_effective_weight", dimensions: [("route", w.route), ("cluster", w.cluster)]).record(w.weight)
        }
    }

    static func routingChange() { Counter(label: "zone_agent_routing_changes_total").increment() }

    static func proxyResponse(cluster: String, status: Int) {
        Counter(label: "zone_agent_proxy_requests_total", dimensions: [("cluster", cluster), ("status", String(status))]).increment()
    }

    static func proxyRetry(from: String, to: String, reason: String) {
        Counter(label: "zone_agent_proxy_retries_total", dimensions: [("from", from), ("to", to), ("reason", reason)]).increment()
    }

    static func outputFailure(_ output: String) {
        Counter(label: "zone_agent_output_failures_total", dimensions: [("output", output)]).increment()
    }

    /// Outputs (Envoy, HAProxy) that do not hold the newest table, because their last push failed and is being
    /// retried: alert when it stays above 0.
    static func outputsBehind(_ count: Int) { Gauge(label: "zone_agent_outputs_behind").record(count) }

    /// Digests that no longer vouch because their lease ran out (a live agent whose probes stalled).
    static func digestsExpired(_ count: Int) { Gauge(label: "zone_agent_digests_expired").record(count) }
}

extension ZoneMetrics {
    /// A reload (SIGHUP or a changed file) applied or refused: `zone_agent_config_reloads_total{result}`.
    static func configReload(applied: Bool) {
        Counter(label: "zone_agent_config_reloads_total", dimensions: [("result", applied ? "applied" : "refused")]).increment()
    }

    /// `zone_agent_config_refused{file,key,problem}`: 1 while the newest edit of that file is refused (the running
    /// configuration keeps serving), 0 once an edit applies. An alert on it names what to fix.
    static func configRefused(file: String, key: String, problem: String, refused: Bool) {
        func label(_ text: String) -> String { String(text.map { $0 == "\n" || $0 == "\"" ? "'" : $0 }.prefix(200)) }
        Gauge(label: "zone_agent_config_refused", dimensions: [("file", label(file)), ("key", label(key)), ("problem", label(problem))])
            .record(refused ? 1 : 0)
    }
}
