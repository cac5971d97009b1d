import Synchronization

/// The refusals in force: files (or watched Ingresses) whose newest version was refused while the previous one keeps
/// serving. Each is a log line when it happens; here it stays visible, on the metric and the status page, until
/// a good version applies.
final class ConfigRefusals: Sendable {
    static let shared = ConfigRefusals()
    private let current = Mutex<[String: ConfigError]>([:])

    /// Records that `error.file` is refused (`refused`), or no longer is; keeps `zone_agent_config_refused` in step.
    func note(_ error: ConfigError, refused: Bool) {
        ZoneMetrics.configRefused(file: error.file, key: error.key ?? "", problem: error.problem, refused: refused)
        current.withLock { $0[error.file] = refused ? error : ($0[error.file] == error ? nil : $0[error.file]) }
    }

    /// The refusals in force, by file.
    var all: [ConfigError] { current.withLock { $0.values.sorted { $0.file < $1.file } } }

    /// The status page's lines, one per refusal; empty when there are none.
    func html() -> String {
        let refusals = all
        guard !refusals.isEmpty else { return "" }
        let items = refusals.map { "<li>\(StatusPage.escape($0.description))</li>" }.joined()
        return "<p class=\"failed\"><b>refused, the previous version keeps serving:</b></p><ul>\(items)</ul>"
    }
}
