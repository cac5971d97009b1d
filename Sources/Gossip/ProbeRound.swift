/// SWIM's randomised round robin: every active member once a round, in an order shuffled anew each round, so
/// that a dead member is probed by someone within about one period on average and by everyone within a round.
/// Used while a name is started twice, whose generations share one place in `ProbeSchedule`'s ring; otherwise
/// the ring's turns order the probes, which leave no member unprobed for periods by chance.
///
/// As memberlist's: a newcomer joins the current round at a random place rather than at its end (were it always
/// appended, members that joined together would be probed late together), and members gone since the round began
/// are skipped when their turn comes.
struct ProbeRound: Sendable {
    private var order: [String] = []
    private var cursor = 0
    /// For each name started twice, how often this round has visited it, so each generation gets its turn (such a
    /// name appears in the round once per live generation).
    private var twinVisits: [String: Int] = [:]

    /// Puts a newcomer at a random place among the members still to come in this round.
    mutating func admit(_ name: String, rng: inout some RandomNumberGenerator) {
        guard cursor < order.count else { return }
        order.insert(name, at: Int.random(in: cursor...order.count, using: &rng))
    }

    /// The next member to probe: active and not under a probe already; a new shuffled round begins when this one is
    /// over. Nil when no member qualifies.
    mutating func next(in table: MemberTable, isProbing: (MemberKey) -> Bool, rng: inout some RandomNumberGenerator) -> Member? {
        for pass in 0..<2 {
            while cursor < order.count {
                let name = order[cursor]
                cursor += 1
                if let m = target(name, in: table, isProbing: isProbing) { return m }
            }
            guard pass == 0 else { break }
            order = table.members.filter(\.state.isActive).map(\.name)
            order.shuffle(using: &rng)
            cursor = 0
            if !twinVisits.isEmpty { twinVisits.removeAll() }
        }
        return nil
    }

    /// The generation of `name` probed at this visit: the only one, or for a name started twice each in turn.
    private mutating func target(_ name: String, in table: MemberTable, isProbing: (MemberKey) -> Bool) -> Member? {
        guard table.hasOlderGenerations else {
            guard let m = table[name], m.state.isActive, !isProbing(m.key) else { return nil }
            return m
        }
        let live = table.generations(of: name).filter(\.state.isActive)
        guard !live.isEmpty else { return nil }
        var m = live[0]
        if live.count > 1 {
            let visit = twinVisits[name, default: 0]
            twinVisits[name] = visit + 1
            m = live[visit % live.count]
        }
        return isProbing(m.key) ? nil : m
    }
}
