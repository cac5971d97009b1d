import Foundation
import WeightTable

/// The parts of a drill that follow the gateway's traffic policy (`--failover FILE`): where a cut cluster's share
/// goes, and what an isolated gateway serves.
extension DrillRunner {
    /// `isolate-gateway`: the gateway stops hearing the mesh while its requests still reach every backend; it falls
    /// back on `whenNoneHealthy`, then comes back to the configured weights once it hears the mesh again.
    func playIsolation(_ observer: DrillObserver) async throws {
        let cut = options.duration ?? .seconds(20)
        observer.note(.fault, "the gateway's gossip cut from every cluster for \(DurationText.format(cut)), its requests still pass")
        try await target.isolateGateway()
        let end = ContinuousClock.now + cut
        try await waitForSample(observer, "the gateway to fall back on whenNoneHealthy", timeout: .seconds(30)) { $0?.fallback != nil }
        try await Task.sleep(until: max(end, .now + .seconds(2)), clock: .continuous)
        observer.note(.recovery, "the gateway's gossip back")
        try await target.rejoinGateway()
        let configured = configured
        try await waitForSample(observer, "the configured weights back, with no fallback", timeout: options.failbackBudget + .seconds(60)) {
            $0?.fallback == nil && $0?.weights == configured
        }
    }

    private func waitForSample(_ observer: DrillObserver, _ what: String, timeout: Duration,
                               _ condition: @escaping @Sendable (DrillRecord.TableSample?) -> Bool) async throws {
        let since = observer.elapsedMs()
        try await waitUntil(what, timeout: timeout) { condition(observer.latestSample(since: since)) }
    }

    /// Where the drilled cluster's share went while it was away (the last table before the recovery), against
    /// the policy's rule; nil when no table was seen in between.
    static func shareCheck(record: DrillRecord, cluster: String, configured: [String: Int], policy: DrillPolicy) -> DrillReport.Check? {
        guard let fault = record.faultAtMs, let recovery = record.recoveryAtMs,
              let during = record.samples.last(where: { $0.atMs > fault && $0.atMs < recovery }) else { return nil }
        let (held, why) = policy.holds(during.weights, configured: configured, cut: [cluster])
        let table = DrillHTML.weights(during.weights)
        return .init(what: "\(cluster)'s share \(why) (\(policy.traffic.priority.isEmpty ? "proportional" : "priority groups"); table while cut: \(table))",
                     held: held)
    }

    /// The checks of `isolate-gateway` under `rule`: it falls back on the rule, serves what the rule says, and comes
    /// back to the configured weights once it hears the mesh again.
    static func isolationChecks(record: DrillRecord, configured: [String: Int], rule: TrafficPolicy.NoneHealthy) -> [DrillReport.Check] {
        var checks: [DrillReport.Check] = []
        func check(_ held: Bool, _ what: String) { checks.append(.init(what: what, held: held)) }
        let fmt = { (ms: Int?) in DrillHTML.seconds(ms.map { Double($0) / 1000 }) }
        guard let fault = record.faultAtMs else { return [.init(what: "the cut was made", held: false)] }
        let fell = record.samples.first { $0.atMs >= fault && $0.fallback != nil }
        let fellAt = fell.map { max(fault, $0.effectiveMs) }
        check(fell?.fallback == rule.rawValue,
              "fell back on whenNoneHealthy: \(rule.rawValue) (\(fell?.fallback ?? "no fallback seen") \(fmt(fellAt.map { $0 - fault })) after the cut)")
        let recovery = record.recoveryAtMs
        let back = recovery.flatMap { r in record.samples.first { $0.atMs >= r && $0.fallback == nil && $0.weights == configured } }
        let backAt = back.map { max(recovery ?? 0, $0.effectiveMs) }
        check(back != nil, "the configured weights back, no fallback (\(fmt(backAt.flatMap { b in recovery.map { b - $0 } })) after the gossip came back)")
        let window = record.samples.filter { $0.fallback != nil }
        switch rule {
        case .lastGood:
            let before = record.samples.last { $0.atMs < (fell?.atMs ?? 0) && $0.fallback == nil }?.weights
            check(!window.isEmpty && window.allSatisfy { $0.weights == before },
                  "kept the last good table while cut off (\(DrillHTML.weights(before ?? [:])))")
        case .all:
            check(!window.isEmpty && window.allSatisfy { $0.weights == configured },
                  "spread over every known endpoint at the configured weights while cut off (\(DrillHTML.weights(window.first?.weights ?? [:])))")
        case .none:
            break
        }
        let failed = record.requests.filter { !$0.ok }
        if rule == .none {
            // 503 is what fail closed answers: expected while the fallback is in force (with 500 ms for a request
            // sent just before the table changed), a failure anywhere else.
            let slack = 500
            let from = (fellAt ?? Int.max) - slack, to = (backAt ?? Int.max) + slack
            let refused = failed.filter { $0.outcome == "503" && $0.sentMs >= from && $0.sentMs <= to }
            let other = failed.count - refused.count
            check(!refused.isEmpty, "answered 503 while cut off (\(refused.count) of \(record.requests.count) requests)")
            check(other == 0, "no other failed request (\(other): \(failed.filter { !($0.outcome == "503" && $0.sentMs >= from && $0.sentMs <= to) }.prefix(3).map(\.outcome)))")
        } else {
            check(failed.isEmpty, "no failed request (\(failed.count) of \(record.requests.count))")
        }
        return checks
    }
}
