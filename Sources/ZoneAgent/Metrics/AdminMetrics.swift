import Prometheus

/// The admin API's own failures: a document that could not be encoded is answered 500, logged and counted here,
/// never skipped in silence.
final class AdminMetrics: Sendable {
    /// The admin paths that answer with an encoded document.
    static let documents = ["/v1/members", "/v1/table"]

    let encodeFailures: [String: Counter]

    init(registry: PrometheusCollectorRegistry) {
        encodeFailures = Dictionary(uniqueKeysWithValues: Self.documents.map { path in
            (path, registry.counter("zone_agent_admin_encode_failures_total", [("path", path)],
                                    help: "Admin API documents that could not be encoded as JSON (answered 500), by path."))
        })
    }
}
