import Foundation

/// Plays one scenario against a target under a request stream, then judges it against its expectation.
struct DrillRunner {
    struct Options: Sendable {
        var profile = "lan"
        var rate = 50
        /// How long a pause, cut, packet loss or quiet observation lasts (the scenario's default when nil).
        var duration: Duration?
        var lossPercent = 10
        /// The hold-down and slow start the gateway uses: bounds how long the failback may take.
        var failbackBudget: Duration = .seconds(30)
        /// The gateway's traffic policy (`--failover`), which the expectations follow.
        var policy = DrillPolicy()
    }

    let target: any DrillTarget
    let cluster: String
    let configured: [String: Int]
    let options: Options
    let say: @Sendable (String) -> Void

    func run(_ scenario: DrillScenario) async throws -> DrillReport {
        let startedAt = Date()
        // Two gateways, two observers: played and judged in SplitDrill.swift.
        if scenario == .splitMesh { return try await runSplit(startedAt: startedAt) }
        // `pin` sends every third request unpinned and the others pinned to each cluster in turn.
        let pins = scenario == .pin ? [nil] + configured.keys.sorted().map { Optional($0) } : [nil]
        let observer = DrillObserver(target: target, rate: options.rate, pins: pins)
        observer.start()
        let progress = Task { await reportProgress(observer) }
        defer { progress.cancel() }
        try await wait(observer, "the first table sample", timeout: .seconds(10)) { $0 != nil }
        // From a steady table only: on a loaded machine a mesh can still be settling, and a fault played then
        // would measure the settling, not the fault.
        let configured = configured
        try await wait(observer, "the configured weights before the fault", timeout: .seconds(30)) { $0 == configured }
        try await Task.sleep(for: .seconds(2))

        var checks: [DrillReport.Check] = []
        do {
            try await play(scenario, observer: observer, checks: &checks)
        } catch let error as DrillError {
            checks.append(.init(what: "the drill ran to its end: \(error)", held: false))
            try? await recoverAfterError(scenario)
        }
        try await Task.sleep(for: .seconds(1))
        progress.cancel()
        let record = await observer.stop()
        let figures = DrillFigures(record: record, cluster: cluster, configured: configured,
                                   expectedFailovers: scenario.movesTraffic ? 1 : 0)
        checks += judge(scenario, record: record, figures: figures)
        return DrillReport(scenario: scenario, cluster: cluster, profile: options.profile, startedAt: startedAt, rate: options.rate,
                           configured: configured, record: record, figures: figures, checks: checks)
    }

    // MARK: Playing

    private func play(_ scenario: DrillScenario, observer: DrillObserver, checks: inout [DrillReport.Check]) async throws {
        let c = cluster
        switch scenario {
        case .killCluster:
            try await failover(observer, fault: "SIGKILL every agent and backend of \(c)", { try await target.killCluster(c) },
                               recovery: "\(c) started again", { try await target.startCluster(c) })
        case .scaleToZero:
            try await failover(observer, fault: "\(c)'s backends scaled to zero, its agents up", { try await target.scaleToZero(c) },
                               recovery: "\(c)'s backends back", { try await target.scaleBack(c) })
        case .pauseCluster:
            let pause = options.duration ?? .seconds(20)
            try await failover(observer, fault: "SIGSTOP \(c)'s agents and backends for \(DurationText.format(pause))", { try await target.pause(c) },
                               lasting: pause, recovery: "SIGCONT \(c)", { try await target.resume(c) })
        case .partition, .pin:
            let cut = options.duration ?? .seconds(20)
            try await failover(observer, fault: "\(c)'s network cut for \(DurationText.format(cut))", { try await target.cut(c) },
                               lasting: cut, recovery: "the cut healed", { try await target.heal(c) })
        case .outlier:
            try await failover(observer, fault: "\(c)'s backends answer 500 to requests, their probes pass", { try await target.fault(c) },
                               recovery: "\(c)'s backends fixed", { try await target.recoverFault(c) })
        case .killAgent:
            let quiet = options.duration ?? .seconds(10)
            let name = try await target.killAgent(c)
            observer.note(.fault, "SIGKILL \(name)")
            try await Task.sleep(for: quiet)
            observer.note(.recovery, "\(name) started again")
            try await target.startAgent(c, name)
            try await Task.sleep(for: .seconds(2))
        case .rollingRestart:
            observer.note(.fault, "rolling restart of \(c)'s agents")
            for name in target.agents(of: c) {
                let before = await generation(of: name, observer)
                observer.note(.step, "restart \(name)")
                try await target.restartAgent(c, name)
                try await waitUntil("\(name) alive again at the gateway", timeout: .seconds(60)) {
                    let now = await self.generation(of: name, observer)
                    return now != nil && now != before
                }
            }
            observer.note(.recovery, "every agent of \(c) restarted")
            try await Task.sleep(for: .seconds(2))
        case .packetLoss:
            let length = options.duration ?? .seconds(120)
            observer.note(.fault, "\(options.lossPercent)% of gossip packets dropped for \(DurationText.format(length))")
            try await target.startLoss(percent: options.lossPercent)
            try await Task.sleep(for: length)
            observer.note(.recovery, "packet loss ended")
            try await target.stopLoss()
            try await Task.sleep(for: .seconds(2))
        case .drain:
            // No undo: the order runs out by itself, and the table gives the share back at its end.
            let length = options.duration ?? .seconds(5)
            try await failover(observer, fault: "drain \(c) for \(DurationText.format(length))", { try await target.drain(c, for: length) },
                               lasting: length, recovery: "the drain ran out", {})
        case .restartGateway:
            observer.note(.fault, "SIGKILL the gateway")
            try await target.killGateway()
            observer.note(.recovery, "the gateway started again")
            try await target.startGateway()
            try await awaitConfigured(observer)
            try await Task.sleep(for: .seconds(2))
        case .isolateGateway:
            try await playIsolation(observer)
        case .splitMesh:
            throw DrillError("split-mesh is played by runSplit")
        }
    }

    /// A fault that moves traffic: act, wait for the table to drop the cluster (and for the fault's length, where it
    /// has one; at least 2 s, so the failover is seen to hold), undo, wait for the configured weights.
    private func failover(_ observer: DrillObserver, fault: String, _ act: () async throws -> Void, lasting: Duration = .seconds(2),
                          recovery: String, _ undo: () async throws -> Void) async throws {
        observer.note(.fault, fault)
        try await act()
        let end = ContinuousClock.now + lasting
        try await awaitDrop(observer)
        try await Task.sleep(until: max(end, .now + .seconds(2)), clock: .continuous)
        observer.note(.recovery, recovery)
        try await undo()
        try await awaitConfigured(observer)
    }

    /// Puts things back when a step failed halfway, so the next scenario (or a retry) finds a whole mesh.
    private func recoverAfterError(_ scenario: DrillScenario) async throws {
        switch scenario {
        case .pauseCluster: try await target.resume(cluster)
        case .partition, .pin: try await target.heal(cluster)
        case .packetLoss: try await target.stopLoss()
        case .isolateGateway: try await target.rejoinGateway()
        default: break
        }
    }

    private func awaitDrop(_ observer: DrillObserver) async throws {
        let cluster = cluster
        try await wait(observer, "the table to drop \(cluster)", timeout: .seconds(30)) { $0?[cluster] == 0 }
    }

    private func awaitConfigured(_ observer: DrillObserver) async throws {
        let configured = configured
        try await wait(observer, "the configured weights back", timeout: options.failbackBudget + .seconds(60)) { $0 == configured }
    }

    /// Waits for a table sample taken from now on that satisfies `condition`.
    private func wait(_ observer: DrillObserver, _ what: String, timeout: Duration,
                      _ condition: @escaping @Sendable ([String: Int]?) -> Bool) async throws {
        let since = observer.elapsedMs()
        try await waitUntil(what, timeout: timeout) { condition(observer.latestWeights(since: since)) }
    }

    func waitUntil(_ what: String, timeout: Duration, _ condition: @Sendable () async -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw DrillError("gave up after \(DurationText.format(timeout)) waiting for \(what)")
    }

    /// The generation of an alive member named `name`, as the gateway sees it.
    private func generation(of name: String, _ observer: DrillObserver) async -> String? {
        guard let data = await observer.fetch("/v1/members"),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let members = object["members"] as? [[String: Any]] else { return nil }
        return members.first { $0["node"] as? String == name && $0["state"] as? String == "alive" }
            .map { "\($0["generation"] ?? "")" }
    }

    private func reportProgress(_ observer: DrillObserver) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(2))
            if Task.isCancelled { return }
            let r = observer.snapshot
            let recent = r.requests.suffix(max(1, options.rate))
            let served = Dictionary(grouping: recent.compactMap(\.cluster), by: { $0 }).mapValues(\.count)
            let split = configured.keys.sorted().map { "\($0) \(served[$0] ?? 0)" }.joined(separator: " / ")
            let table = DrillHTML.weights(r.samples.last?.weights ?? [:])
            let phase = r.events.last.map { "after \($0.kind.rawValue)" } ?? "steady"
            say(String(format: "  %6.1fs  %@  requests %d (%d failed)  last second: %@  table: %@",
                       Double(observer.elapsedMs()) / 1000, phase, r.requests.count, r.requests.filter { !$0.ok }.count, split, table))
        }
    }

    // MARK: Judging

    func judge(_ scenario: DrillScenario, record: DrillRecord, figures f: DrillFigures) -> [DrillReport.Check] {
        var checks: [DrillReport.Check] = []
        func check(_ held: Bool, _ what: String) { checks.append(.init(what: what, held: held)) }
        let fmt = { (s: Double?) in DrillHTML.seconds(s) }
        if scenario == .restartGateway {
            // Refused connections while the gateway is down are the restart itself; an answer other than 200 once it
            // accepts again is not.
            let recovery = record.recoveryAtMs ?? 0
            let firstOK = record.requests.filter { $0.sentMs >= recovery && $0.ok }.map { Int($0.endMs) }.min()
            let wrong = record.requests.filter { !$0.ok && !$0.outcome.hasPrefix("error") }
            let afterBack = record.requests.filter { !$0.ok && Double($0.sentMs) > Double(firstOK ?? Int.max) }
            check(firstOK != nil, "answers again after the restart (first 200 \(fmt(firstOK.map { Double($0 - recovery) / 1000 })) after it started)")
            check(wrong.isEmpty, "no answer other than 200 (\(wrong.count): a gateway must not accept traffic before its table)")
            check(afterBack.isEmpty, "no failed request once it answered again (\(afterBack.count))")
            check(f.weightChanges == 0 || record.samples.allSatisfy { $0.weights == configured || $0.weights.isEmpty },
                  "its first table is the configured split")
            return checks
        }
        if scenario == .isolateGateway {
            return Self.isolationChecks(record: record, configured: configured, rule: options.policy.traffic.whenNoneHealthy)
        }
        if scenario == .pin {
            checks += Self.pinChecks(record: record, cluster: cluster)
        } else if scenario == .outlier {
            // The requests before the gateway noticed fail by design: at most minRequests of the window (10) and a few
            // in flight when it demoted the cluster.
            check(f.failedRequests <= 20, "only the requests before detection failed (\(f.failedRequests) of \(f.requests), at most 20)")
        } else {
            check(f.failedRequests == 0, "no failed request (\(f.failedRequests) of \(f.requests))")
        }
        if scenario.movesTraffic {
            check(f.failoverTableSeconds != nil, "the table moved \(cluster)'s share away (\(fmt(f.failoverTableSeconds)) after the fault)")
            if scenario == .scaleToZero, let detection = target.probeDetection {
                let bound = (detection + .milliseconds(200))
                let boundSeconds = Double(bound.components.seconds) + Double(bound.components.attoseconds) / 1e18
                check((f.failoverTableSeconds ?? .infinity) <= boundSeconds,
                      "within probe interval × fall + 200 ms (\(fmt(f.failoverTableSeconds)) ≤ \(fmt(boundSeconds)))")
            }
            check(f.failbackSeconds != nil, "the configured weights came back (\(fmt(f.failbackSeconds)) after the recovery)")
            check(f.flaps == 0, "no flap (\(f.flaps))")
            if let share = Self.shareCheck(record: record, cluster: cluster, configured: configured, policy: options.policy) { checks.append(share) }
        } else {
            check(f.weightChanges == 0, "no weight change (\(f.weightChanges))")
        }
        return checks
    }
}
