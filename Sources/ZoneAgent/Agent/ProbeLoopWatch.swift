/// When an agent's probe loop counts as stalled, for its `/healthz`.
///
/// Gossip can run on while probing is stuck (a hung round, a wedged event loop, a deadlock in discovery): the
/// agent then stays alive in the mesh and keeps re-gossiping its last digest, a health status that lies. The
/// gateway's digest lease bounds the damage; this check ends it, by failing liveness so that Kubernetes restarts
/// the agent. Pure: the agent passes when its last round completed and the time now.
enum ProbeLoopWatch {
    /// Never less than this, so that a short interval does not make a briefly busy node (a GC pause, CPU
    /// throttling) restart its agent: 10 s is Kubernetes' default liveness period.
    static let minimumAllowance: Duration = .seconds(10)

    /// How long the loop may go without completing a round: three rounds (interval plus a full timeout each,
    /// as a round waits for its slowest probe), and never under `minimumAllowance`.
    static func allowance(interval: Duration, timeout: Duration) -> Duration {
        max(interval * 3 + timeout, minimumAllowance)
    }

    /// Nil while the loop is healthy; otherwise a sentence for `/healthz` saying how long it has been stuck.
    static func problem(lastRoundAt: ContinuousClock.Instant, now: ContinuousClock.Instant, interval: Duration,
                        timeout: Duration) -> String? {
        let stalled = lastRoundAt.duration(to: now)
        let allowed = allowance(interval: interval, timeout: timeout)
        guard stalled > allowed else { return nil }
        return "probe loop stalled: no probe round completed for \(DurationText.format(stalled)) (allowed \(DurationText.format(allowed)): max(3 × probe.interval + probe.timeout, \(DurationText.format(minimumAllowance))))"
    }
}
