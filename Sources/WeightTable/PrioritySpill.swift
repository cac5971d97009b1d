extension TableBuilder {
    /// Ordered failover over priority groups (`TrafficPolicy.priority`): each group, first to last, takes the
    /// traffic meant for it plus what earlier groups could not take, keeps as much as its best cluster can carry,
    /// and passes the rest on.
    ///
    /// A group's clusters share what it keeps in proportion to their raw shares, so a failed cluster's share goes
    /// to its own group first. How much a group keeps is the fill of its fullest cluster (raw ÷ configured, at most
    /// 1): one cluster at full capacity takes its siblings' shares, as in the proportional rule; a group whose
    /// clusters are all held down, failed or short of capacity keeps only that fraction. What the last group
    /// cannot take goes back up the order, to the first group that can serve, rather than nowhere.
    ///
    /// - Parameters:
    ///   - raw: each cluster's raw share (configured weight × capacity × ramp, in units of 1/10,000 of a point).
    ///   - configured: each cluster's configured weight in points.
    ///   - groups: indices into `raw`, first group first; together they cover every index once.
    /// - Returns: the new raw shares, in the same units.
    static func spill(_ raw: [Int], configured: [Int], groups: [[Int]]) -> [Int] {
        var result = [Int](repeating: 0, count: raw.count)
        var incoming = 0
        for group in groups {
            let demand = group.reduce(incoming) { $0 + configured[$1] * 10_000 }
            let serving = group.filter { raw[$0] > 0 }
            guard !serving.isEmpty else {
                incoming = demand
                continue
            }
            // Fill in parts per 10,000: a cluster configured at 0 that can serve (a standby) counts as full.
            let fill = serving.map { i in configured[i] > 0 ? min(10_000, raw[i] / configured[i]) : 10_000 }.max() ?? 0
            let kept = demand * fill / 10_000
            let split = Apportion.largestRemainder(group.map { raw[$0] }, total: kept)
            for (i, share) in zip(group, split) { result[i] = share }
            incoming = demand - kept
        }
        // What no group further down could take goes back up the order: to the first group that can serve, in
        // proportion to its raw shares (also how a standby group configured at 0 takes a whole route).
        if incoming > 0, let first = groups.first(where: { $0.contains { raw[$0] > 0 } }) {
            let split = Apportion.largestRemainder(first.map { raw[$0] }, total: incoming)
            for (i, share) in zip(first, split) { result[i] += share }
        }
        return result
    }
}
