import Foundation

/// One side of a split mesh: its gateway and the clusters it still hears.
struct SplitSide: Sendable {
    var gateway: DrillGateway
    var clusters: [String]
}

/// `split-mesh`: the mesh cut in two with a gateway on each side. Each gateway has its own observer (its own
/// request stream and table samples, on one shared clock), and each is judged against its own side: while split
/// it serves its side's clusters as the policy says; after the heal both serve the configured weights, and the
/// same table.
extension DrillRunner {
    func runSplit(startedAt: Date) async throws -> DrillReport {
        guard let local = target as? LocalDrillTarget else { throw DrillError("split-mesh runs on the local mesh only") }
        let sides = try local.splitSides(cluster)
        let origin = ContinuousClock.now
        let observers = sides.map { DrillObserver(gateway: $0.gateway, rate: options.rate, origin: origin) }
        for observer in observers { observer.start() }
        let progress = Task { await reportSplitProgress(observers) }
        defer { progress.cancel() }
        let configured = configured
        let start = observers[0].elapsedMs()
        try await waitUntil("both gateways at the configured weights before the split", timeout: .seconds(30)) {
            observers.allSatisfy { $0.latestWeights(since: start) == configured }
        }
        try await Task.sleep(for: .seconds(2))

        var checks: [DrillReport.Check] = []
        do {
            try await playSplit(local, sides: sides, observers: observers)
        } catch let error as DrillError {
            checks.append(.init(what: "the drill ran to its end: \(error)", held: false))
            try? await local.mend()
        }
        try await Task.sleep(for: .seconds(1))
        progress.cancel()
        var records: [DrillRecord] = []
        for observer in observers { records.append(await observer.stop()) }
        let judged = Self.splitJudgement(records: records, sides: sides, configured: configured, policy: options.policy)
        return DrillReport(scenario: .splitMesh, cluster: cluster, profile: options.profile, startedAt: startedAt, rate: options.rate,
                           configured: configured, record: records[0], figures: judged.gateways[0].figures,
                           checks: checks + judged.checks, gateways: judged.gateways)
    }

    private func playSplit(_ local: LocalDrillTarget, sides: [SplitSide], observers: [DrillObserver]) async throws {
        let length = options.duration ?? .seconds(20)
        let layout = sides.map { "\($0.clusters.joined(separator: " + ")) with \($0.gateway.name)" }.joined(separator: " | ")
        for observer in observers { observer.note(.fault, "the mesh split for \(DurationText.format(length)): \(layout)") }
        let since = observers[0].elapsedMs()
        try await local.split(sides)
        let end = ContinuousClock.now + length
        try await waitUntil("each gateway to drop the other side's clusters", timeout: .seconds(30)) {
            zip(observers, sides.reversed()).allSatisfy { observer, other in
                other.clusters.allSatisfy { observer.latestWeights(since: since)?[$0] == 0 }
            }
        }
        try await Task.sleep(until: max(end, .now + .seconds(2)), clock: .continuous)
        for observer in observers { observer.note(.recovery, "the split healed") }
        let healed = observers[0].elapsedMs()
        try await local.mend()
        let configured = configured
        try await waitUntil("both gateways back at the configured weights with the same table", timeout: options.failbackBudget + .seconds(60)) {
            let latest = observers.map { $0.latestSample(since: healed) }
            return latest.allSatisfy { $0?.weights == configured && $0?.fallback == nil } && Set(latest.map { $0?.hash }).count == 1
        }
    }

    private func reportSplitProgress(_ observers: [DrillObserver]) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(2))
            if Task.isCancelled { return }
            let line = observers.map { observer in
                let r = observer.snapshot
                let failed = r.requests.filter { !$0.ok }.count
                return "\(observer.gateway.name): \(r.requests.count) requests (\(failed) failed), table \(DrillHTML.weights(r.samples.last?.weights ?? [:]))"
            }.joined(separator: "  |  ")
            say(String(format: "  %6.1fs  %@", Double(observers[0].elapsedMs()) / 1000, line))
        }
    }

    // MARK: Judging

    /// How long a request caught by the cut (sent to the other side before the gateway's table moved) may take
    /// beyond that move: the proxy gives up its try when the table drops the endpoint, or when its connect times
    /// out (1 s), and retries once in another cluster.
    static let caughtSlack = 2_000

    /// The checks of `split-mesh` and each gateway's part of the report, from the records alone.
    static func splitJudgement(records: [DrillRecord], sides: [SplitSide], configured: [String: Int],
                               policy: DrillPolicy) -> (checks: [DrillReport.Check], gateways: [DrillReport.Gateway]) {
        var checks: [DrillReport.Check] = []
        func check(_ held: Bool, _ what: String) { checks.append(.init(what: what, held: held)) }
        let fmt = { (ms: Int?) in DrillHTML.seconds(ms.map { Double($0) / 1000 }) }
        var gateways: [DrillReport.Gateway] = []
        for (i, (record, side)) in zip(records, sides).enumerated() {
            let other = sides[sides.count - 1 - i].clusters
            let name = side.gateway.name
            let f = DrillFigures(record: record, cluster: other[0], configured: configured, expectedFailovers: other.count)
            gateways.append(.init(name: name, side: side.clusters, cluster: other[0], figures: f,
                                  reasons: DrillReport.reasonChanges(record.samples), timeline: DrillTimeline(record: record)))
            guard let fault = record.faultAtMs, let recovery = record.recoveryAtMs else {
                check(false, "\(name): the split was made and healed")
                continue
            }
            let dropIndex = record.samples.firstIndex { sample in sample.atMs >= fault && other.allSatisfy { sample.weights[$0] == 0 } }
            let dropAt = dropIndex.map { max(fault, record.samples[$0].effectiveMs) }
            check(dropAt != nil, "\(name) dropped the other side's \(other.joined(separator: ", ")) (\(fmt(dropAt.map { $0 - fault })) after the split)")
            // The samples from the drop's on, in the order they were taken. Not those seen after the drop's build
            // time: a sample whose answer left the gateway just before the rebuild is seen after it, with the old
            // table, and is no evidence that the other side came back.
            let during = dropIndex.map { record.samples[$0...].filter { $0.atMs < recovery } } ?? []
            let last = during.last.map { policy.holds($0.weights, configured: configured, cut: Set(other)) }
            check(last?.held == true && during.allSatisfy { policy.holds($0.weights, configured: configured, cut: Set(other)).held },
                  "\(name) served its own side until the heal: \(last?.why ?? "no table seen") (table while split: \(DrillHTML.weights(during.last?.weights ?? [:])))")
            let failed = record.requests.filter { !$0.ok }
            if other.count > 1 {
                // The proxy's one retry avoids only the cluster that failed: with two clusters across the cut, a
                // request sent before the table moved can try one and retry the other, and get 502. Allowed, and
                // only that.
                let crossedTwice = failed.filter { $0.outcome == "502" && $0.sentMs >= fault && $0.sentMs <= (dropAt ?? recovery) }
                check(crossedTwice.count == failed.count,
                      "no failed request through \(name) but those sent before its table moved whose try and one retry both "
                      + "crossed the cut to \(other.joined(separator: " and ")) "
                      + "(502: \(crossedTwice.count), others: \(failed.count - crossedTwice.count), of \(f.requests))")
            } else {
                check(failed.isEmpty, "no failed request through \(name) (\(failed.count) of \(f.requests))")
            }
            // Requests the gateway sent to the other side before its table moved hang in the cut until the proxy
            // gives their try up and retries it in its own side: slow, not failed. Said, and bounded.
            let caught = record.requests.filter { $0.sentMs >= fault && $0.sentMs <= (dropAt ?? recovery) && $0.latencyMs > 250 }
            let slowest = caught.map { $0.latencyMs }.max() ?? 0
            let bound = (dropAt ?? recovery) - fault + caughtSlack
            check(caught.allSatisfy { Double($0.sentMs) + $0.latencyMs <= Double(fault + bound) },
                  "\(caught.count) requests through \(name) caught by the cut before its table moved "
                  + "(over 250 ms, the slowest \(fmt(Int(slowest)))), each answered by \(fmt(bound)) after the split")
            check(f.flaps == 0, "no flap at \(name) (\(f.flaps))")
            check(f.failbackSeconds != nil, "\(name) back at the configured weights (\(DrillHTML.seconds(f.failbackSeconds)) after the heal)")
        }
        if records.count == 2, let recovery = records[0].recoveryAtMs {
            let agreed = agreement(records[0], records[1], from: recovery, configured: configured)
            let hash = agreed.map { String($0.hash.prefix(12)) } ?? "—"
            check(agreed != nil, "both gateways at the configured weights with the same table (hash \(hash), \(fmt(agreed.map { $0.atMs - recovery })) after the heal)")
        }
        return (checks, gateways)
    }

    /// The first moment from `from` on at which both gateways' newest samples show the configured weights and the
    /// same table hash.
    static func agreement(_ a: DrillRecord, _ b: DrillRecord, from: Int, configured: [String: Int]) -> (atMs: Int, hash: String)? {
        let times = (a.samples + b.samples).map(\.atMs).filter { $0 >= from }.sorted()
        for t in times {
            guard let x = a.samples.last(where: { $0.atMs <= t }), let y = b.samples.last(where: { $0.atMs <= t }),
                  x.atMs >= from, y.atMs >= from, x.weights == configured, y.weights == configured,
                  let hash = x.hash, hash == y.hash else { continue }
            return (t, hash)
        }
        return nil
    }
}
