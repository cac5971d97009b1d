/// The checks of `pin`: requests pinned to a cluster by the pin header (`proxy.pinHeader`) follow the table. Pinned
/// to a live cluster, every one is served by it; pinned to the cut one, every one is served by it before the cut,
/// answered 503 while the table lacks it (never sent elsewhere), and served by it again once it is back; unpinned
/// requests move as in `partition`.
extension DrillRunner {
    /// How long after the table without the cluster was built a request may still have been routed by the old one.
    static let pinSlackMs = 250

    static func pinChecks(record: DrillRecord, cluster: String) -> [DrillReport.Check] {
        var checks: [DrillReport.Check] = []
        func check(_ held: Bool, _ what: String) { checks.append(.init(what: what, held: held)) }
        let seconds = { (ms: Int) in DrillHTML.seconds(Double(ms) / 1000) }
        let requests = record.requests.sorted { $0.sentMs < $1.sentMs }
        let servedByPin = { (r: DrillRecord.Request) in r.ok && r.cluster == r.pin }
        let outcomes = { (rs: [DrillRecord.Request]) in Array(Set(rs.map(\.outcome))).sorted().prefix(3).joined(separator: ", ") }

        let unpinned = requests.filter { $0.pin == nil }
        let failed = unpinned.filter { !$0.ok }
        check(!unpinned.isEmpty && failed.isEmpty, "no unpinned request failed (\(failed.count) of \(unpinned.count))")
        for live in Set(requests.compactMap(\.pin)).subtracting([cluster]).sorted() {
            let pinned = requests.filter { $0.pin == live }
            let astray = pinned.filter { !servedByPin($0) }
            check(!pinned.isEmpty && astray.isEmpty,
                  "every request pinned to \(live) (live) served by it (\(pinned.count - astray.count) of \(pinned.count)\(astray.isEmpty ? "" : "; also \(outcomes(astray))"))")
        }

        let pinned = requests.filter { $0.pin == cluster }
        guard let fault = record.faultAtMs, let recovery = record.recoveryAtMs,
              let drop = record.samples.first(where: { $0.atMs > fault && $0.weights[cluster] == 0 }) else {
            check(false, "the cut was made, the table dropped \(cluster) and the cut healed")
            return checks
        }
        let before = pinned.filter { $0.sentMs < fault }
        check(!before.isEmpty && before.allSatisfy(servedByPin),
              "pinned to \(cluster) before the cut: served by it (\(before.filter(servedByPin).count) of \(before.count))")

        // Sent before the gateway knew: its try and its one retry stay in the cut cluster, so these may fail.
        let droppedAt = max(fault, drop.effectiveMs)
        let unknowing = pinned.filter { $0.sentMs >= fault && $0.sentMs < droppedAt + pinSlackMs }
        let cut = pinned.filter { $0.sentMs >= droppedAt + pinSlackMs && $0.sentMs < recovery }
        let not503 = cut.filter { $0.outcome != "503" }
        check(!cut.isEmpty && not503.isEmpty,
              "pinned to \(cluster) while the table lacked it (from \(seconds(droppedAt - fault)) after the cut): 503, never another cluster "
              + "(\(cut.count - not503.count) of \(cut.count)\(not503.isEmpty ? "" : "; also \(outcomes(not503))")); "
              + "sent before the gateway knew: \(unknowing.filter { !$0.ok }.count) of \(unknowing.count) failed")

        // Once healed, 503 until the cluster's endpoints are healthy again (a pinned request may use them during the
        // hold-down, before the cluster has weight), then served by it every time.
        let after = pinned.filter { $0.sentMs >= recovery }
        guard let first = after.firstIndex(where: servedByPin) else {
            check(false, "pinned to \(cluster): served again after the heal (none of \(after.count): \(outcomes(after)))")
            return checks
        }
        let waiting = after[..<first].filter { $0.outcome != "503" }
        let since = after[first...].filter { !servedByPin($0) }
        check(waiting.isEmpty && since.isEmpty,
              "pinned to \(cluster): served again \(seconds(after[first].sentMs - recovery)) after the heal and every time since "
              + "(\(since.count) not; before it \(first) answered 503\(waiting.isEmpty ? "" : ", \(waiting.count) otherwise: \(outcomes(Array(waiting)))"))")
        return checks
    }
}
