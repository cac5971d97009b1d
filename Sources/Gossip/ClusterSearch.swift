/// The search of a suspect's cluster: probing its alive siblings at once, beside the round robin.
///
/// The failure that matters most here is a whole cluster (a zone) failing at once. The round robin finds its
/// members one by one, the last one after about ln(cluster size) periods; probing a suspect's siblings at once
/// turns each suspicion into a search of its cluster, and every member joins the search as the suspicion
/// spreads. The member whose own probe failed searches `indirectChecks` siblings, one per helper it would ask
/// anyway; the others one each, so a false suspicion costs the mesh about one probe per member. A member
/// starts at most `maxSearches` searches a period, so that under heavy loss the searches' own false
/// suspicions cannot breed more searches without bound; one that is struggling (Lifeguard: it slows down,
/// never speeds up) or has used up its budget puts the siblings at the front of its round robin instead.
struct ClusterSearch: Sendable {
    /// Searches under way at once, and started in one probe period, at most: a cluster failing floods a member
    /// with suspicions.
    static let maxSearches = 4

    /// Searches this member may still start in the current probe period.
    private(set) var budget = Self.maxSearches
    /// Members to probe before the round robin goes on: alive siblings of members just suspected (newest last).
    private var queued: [String] = []

    /// A new probe period: the budget is whole again.
    mutating func renewBudget() { budget = Self.maxSearches }

    /// Takes one search from the budget; false when it is spent.
    mutating func spend() -> Bool {
        guard budget > 0 else { return false }
        budget -= 1
        return true
    }

    /// Puts `name` at the front of the round robin; only the newest few are kept, since a cluster failing floods
    /// a member with suspicions.
    mutating func queue(_ name: String) {
        guard !queued.contains(name) else { return }
        queued.append(name)
        if queued.count > Self.maxSearches { queued.removeFirst() }
    }

    /// The newest queued sibling still alive and not under a probe already; those no longer worth it are dropped.
    mutating func nextQueued(in table: MemberTable, isProbing: (MemberKey) -> Bool) -> Member? {
        while let name = queued.popLast() {
            if let m = table[name], m.state == .alive, !isProbing(m.key) { return m }
        }
        return nil
    }

    /// Up to `count` alive members of `cluster` not under a probe already, after a random place in the cluster's
    /// roster (`MemberTable.aliveSlots`), so that different members search different siblings.
    static func siblings(in cluster: String, of table: MemberTable, count: Int, isProbing: (MemberKey) -> Bool,
                         rng: inout some RandomNumberGenerator) -> [Member] {
        let roster = table.aliveSlots(of: cluster)
        guard count > 0, !roster.isEmpty else { return [] }
        let start = Int.random(in: 0..<roster.count, using: &rng)
        var found: [Member] = []
        for step in 0..<roster.count {
            guard found.count < count else { break }
            let m = table.member(atSlot: roster[(start + step) % roster.count])
            guard !isProbing(m.key) else { continue }
            found.append(m)
        }
        return found
    }
}
