import Logging
import Synchronization
import WeightTable

/// One external output the gateway keeps in step with its table (Envoy's EDS files, HAProxy's runtime API).
struct TableOutput: Sendable {
    /// The output's name in logs and metrics: `envoy`, `haproxy`.
    var name: String
    /// Puts a table into the output; throws when it could not (full disk, socket gone, HAProxy refused).
    var apply: @Sendable (RoutingTable) async throws -> Void
}

/// How long to wait before retrying an output that failed: doubling from `initial` up to `maximum`.
struct OutputBackoff: Sendable, Hashable {
    /// Default 500 ms: a transient fault (a HAProxy reload, a log rotation filling the disk for a moment) is
    /// retried about as fast as failover itself, so the external gateway lags the built-in proxy by little.
    var initial: Duration = .milliseconds(500)
    /// Default 30 s: a lasting fault (a full disk) is retried twice a minute, a cost nobody notices, and is
    /// caught up within 30 s of being fixed.
    var maximum: Duration = .seconds(30)

    /// The wait after `failures` failures in a row (1 → `initial`).
    func delay(afterFailures failures: Int) -> Duration {
        guard failures > 1 else { return min(initial, maximum) }
        var delay = initial
        for _ in 1..<min(failures, 64) where delay < maximum { delay *= 2 }
        return min(delay, maximum)
    }
}

/// Which outputs hold which table version, and how often each failed since its last success. Pure bookkeeping.
struct OutputBacklog: Sendable, Hashable {
    private var applied: [String: UInt64] = [:]
    private(set) var failures: [String: Int] = [:]

    /// Whether `output` does not yet hold table `version`.
    func isBehind(_ output: String, version: UInt64) -> Bool { applied[output] != version }

    mutating func succeeded(_ output: String, version: UInt64) {
        applied[output] = version
        failures[output] = 0
    }

    /// Records a failure; returns how many in a row.
    @discardableResult
    mutating func failed(_ output: String) -> Int {
        failures[output, default: 0] += 1
        return failures[output]!
    }

    /// When to retry the outputs among `names` that are behind `version`: after the backoff of the one that has
    /// failed least often (so one output's long outage never slows another's retries); nil when none is behind.
    func retryDelay(_ names: [String], version: UInt64, backoff: OutputBackoff) -> Duration? {
        let behind = names.filter { isBehind($0, version: version) }
        guard let fewest = behind.map({ failures[$0] ?? 0 }).min() else { return nil }
        return backoff.delay(afterFailures: max(1, fewest))
    }
}

/// Keeps the external outputs in step with the newest table, retrying with a backoff until each holds it.
///
/// Outputs used to be pushed only when the table changed, so a write that failed (a full disk) stayed failed
/// until the next routing change, which in a quiet mesh may never come: Envoy kept routing to a dead cluster.
/// Now a failed output is retried, with no table change needed, and `zone_agent_outputs_behind` counts the
/// outputs that do not hold the newest table, for an alert.
///
/// New tables and retry timers both just wake the loop, which then pushes the newest table to every output
/// that lacks it: a slow output skips intermediate tables, and pushes never overlap.
final class OutputSync: Sendable {
    /// The outputs in force and how many times they were replaced (a reload): a replaced set starts with nothing
    /// pushed, so each output of it gets the newest table even if an output of the same name held it.
    private let configured: Mutex<(generation: Int, outputs: [TableOutput])>
    private let backoff: OutputBackoff
    private let logger: Logger
    private let latest = Mutex<RoutingTable?>(nil)
    private let progress = Mutex(Progress())
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    /// What a caller (a test, the status page) can see of the loop.
    struct Progress: Sendable, Hashable {
        /// Outputs that do not hold the newest table.
        var behind = 0
        /// Every push attempted, successful or not.
        var attempts = 0
        /// Every push that failed.
        var failures = 0
    }

    init(outputs: [TableOutput], backoff: OutputBackoff = OutputBackoff(), logger: Logger) {
        configured = Mutex((0, outputs))
        self.backoff = backoff
        self.logger = logger
        // One pending wake-up is enough: the loop always reads the newest table when it wakes.
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Hands over a new table; the loop pushes it as soon as the previous push is done.
    func submit(_ table: RoutingTable) {
        latest.withLock { $0 = table }
        wake.yield()
    }

    var progressNow: Progress { progress.withLock { $0 } }

    /// Puts `outputs` in force in place of the current ones (a reload that changed `outputs:`); the newest table
    /// goes to each of them at once.
    func replace(_ outputs: [TableOutput]) {
        configured.withLock { $0 = ($0.generation + 1, outputs) }
        wake.yield()
    }

    /// Pushes tables until cancelled. Runs even with no output configured: a service that returns stops the
    /// whole group.
    func run() async {
        var backlog = OutputBacklog()
        var generation = 0
        var timer: Task<Void, Never>?
        defer { timer?.cancel() }
        for await _ in wakeups {
            timer?.cancel()
            timer = nil
            let (current, outputs) = configured.withLock { $0 }
            if current != generation {
                generation = current
                backlog = OutputBacklog()
            }
            guard let table = latest.withLock({ $0 }), !outputs.isEmpty else {
                progress.withLock { $0.behind = 0 }
                ZoneMetrics.outputsBehind(0)
                continue
            }
            for output in outputs where backlog.isBehind(output.name, version: table.version) {
                progress.withLock { $0.attempts += 1 }
                do {
                    try await output.apply(table)
                    if (backlog.failures[output.name] ?? 0) > 0 {
                        logger.notice("\(output.name) output caught up", metadata: [
                            "version": "\(table.version)", "after failures": "\(backlog.failures[output.name] ?? 0)",
                        ])
                    }
                    backlog.succeeded(output.name, version: table.version)
                } catch {
                    let failures = backlog.failed(output.name)
                    progress.withLock { $0.failures += 1 }
                    ZoneMetrics.outputFailure(output.name)
                    logger.error("\(output.name) output failed; will retry", metadata: [
                        "error": "\(error)", "version": "\(table.version)", "failures in a row": "\(failures)",
                        "retry in": "\(backoff.delay(afterFailures: failures))",
                    ])
                }
            }
            let names = outputs.map(\.name)
            let behind = names.filter { backlog.isBehind($0, version: table.version) }.count
            progress.withLock { $0.behind = behind }
            ZoneMetrics.outputsBehind(behind)
            if let delay = backlog.retryDelay(names, version: table.version, backoff: backoff) {
                let wake = self.wake
                timer = Task {
                    try? await Task.sleep(for: delay)
                    if !Task.isCancelled { wake.yield() }
                }
            }
        }
    }
}
