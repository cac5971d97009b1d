import Wire

/// Members that came back lately: alive again, at the same generation, after we held them suspect or dead.
///
/// Such a member was cut off (a partition, a pause) and its view of the others is stale: while it was away it
/// suspected and then declared dead the members it could not reach, and once back it gossips those accusations
/// at the accused's current incarnations, which a plain SWIM member takes at face value. On the side that stayed
/// healthy that takes healthy members away for as long as their refutations need to catch up with the rumour,
/// and a gateway that counts only alive agents moves their cluster's traffic away meanwhile. The core doubts such
/// accusations (`isStale`) for a while after the return: it neither applies nor relays them, and probes the
/// accused itself instead.
///
/// Only returns are kept, not every member: a map that is empty except just after a heal, so the table's
/// N² memory does not grow. A restart (a new generation) is not a return: a restarted member's view comes fresh
/// from its join sync.
struct ReturnedMembers: Sendable {
    private var since: [String: ContinuousClock.Instant] = [:]

    var isEmpty: Bool { since.isEmpty }

    /// Notes that `name` is alive again after we held it suspect or dead.
    mutating func noteReturn(of name: String, at now: ContinuousClock.Instant) {
        since[name] = now
    }

    /// Whether an accusation made by `accuser` comes from a view we know to be stale.
    ///
    /// - Parameters:
    ///   - state: what we believe of the accuser; nil when we do not know it (then we know nothing against it).
    ///   - window: how long a returned member's accusations stay doubted (`GossipFormulas.staleViewWindow`);
    ///     worked out only for an accuser that did come back, so that the common case costs one lookup.
    /// - Returns: true when the accuser is not alive in our view (it is still cut off, or gone), or came back
    ///   less than `window` ago.
    func isStale(accuser: String, state: MemberState?, now: ContinuousClock.Instant, window: @autoclosure () -> Duration) -> Bool {
        guard let state else { return false }
        if state != .alive { return true }
        guard !since.isEmpty, let back = since[accuser] else { return false }
        return now - back < window()
    }

    /// Forgets returns older than `window`: they no longer matter.
    mutating func forget(olderThan window: Duration, now: ContinuousClock.Instant) {
        guard !since.isEmpty else { return }
        since = since.filter { now - $0.value < window }
    }
}
