import Wire

/// Dead and departed members, kept as tombstones to reject stale rumours about them, and what is done with them:
/// dropped after `tombstoneTime` or beyond `maxTombstones` (oldest first), and the dead probed again now and
/// then, so that a healed partition merges.
struct Tombstones: Sendable {
    typealias Instant = ContinuousClock.Instant

    /// Until when dead members are probed again at the probe rate: set when a dead member comes back, the sign
    /// of a healed partition, so that the rest of the other side is found within a few periods.
    private(set) var burstUntil: Instant?
    /// When a repair sync was last opened with an address, so that an unknown prober triggers at most one.
    private var repairSyncs: [PeerAddress: Instant] = [:]

    /// What one upkeep found in the table: tombstones past their time, and dead members to probe again.
    struct Sweep {
        var expired: [MemberKey] = []
        var dead: [Member] = []
    }

    /// The tombstones older than `tombstoneTime`, and the dead members younger than that, in the order the table
    /// lists its tombstones.
    static func sweep(_ table: MemberTable, now: Instant, tombstoneTime: Duration) -> Sweep {
        var sweep = Sweep()
        for slot in table.tombstoneSlots {
            let m = table.member(atSlot: slot)
            if now - m.stateSince > tombstoneTime {
                sweep.expired.append(m.key)
            } else if m.state == .dead {
                sweep.dead.append(m)
            }
        }
        return sweep
    }

    /// The oldest tombstones beyond `maximum`, to drop.
    static func excess(in table: MemberTable, maximum: Int) -> [MemberKey] {
        guard table.tombstoneCount > maximum else { return [] }
        let oldest = table.tombstoneSlots.map(table.member(atSlot:)).sorted { $0.stateSince < $1.stateSince }
        return oldest.prefix(table.tombstoneCount - maximum).map(\.key)
    }

    /// Whether a burst of re-probing is on at `now`.
    func isBursting(at now: Instant) -> Bool { burstUntil.map { now < $0 } ?? false }

    /// A dead member came back: re-probe the dead at the probe rate until `until`.
    mutating func startBurst(until: Instant) { burstUntil = until }

    /// Whether to open a repair sync with `sender`, a prober we never heard of (its join news missed us): at most
    /// one per address and `interval`.
    mutating func shouldRepair(with sender: PeerAddress, now: Instant, interval: Duration) -> Bool {
        if let last = repairSyncs[sender], now - last < interval { return false }
        repairSyncs[sender] = now
        return true
    }

    /// Forgets repair syncs older than `interval`.
    mutating func forgetRepairs(olderThan interval: Duration, now: Instant) {
        if !repairSyncs.isEmpty { repairSyncs = repairSyncs.filter { now - $0.value < interval } }
    }
}
