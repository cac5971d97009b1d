/// SWIM's round robin with the members taking turns: every member holds the same ring (every member it knows,
/// itself included, ordered by a fixed hash of the name), and in probe slot s (the wall clock cut into probe
/// periods) the member at ring place p probes the one at p + 1 + (s mod (R − 1)).
///
/// Each member still probes every other once every R − 1 periods, as a round robin must. What the shared ring adds:
/// with views and clocks that agree, in each period every member is the target of exactly one other, so a member
/// that dies is probed within about one period. With independent shuffled rounds (memberlist's, kept in
/// `ProbeRound` for what the ring cannot order) whether anyone probes a given member in a period is luck: no one
/// does with probability (1 − 1/N)^N ≈ e⁻¹, so a victim waits k periods for its first probe with probability e⁻ᵏ;
/// at N = 1,000 one victim in nine waited 2.6 s, and its detection set the p99.
///
/// Clocks apart by less than a period keep most of the benefit; beyond that the probers of a member no longer take
/// turns, but each still visits it once a round, as a shuffled round does. A target that is not active, or is under
/// a probe already, is passed over for the next in the ring (so its turn goes to its successor, not to no one).
///
/// The ring holds the names' 8-byte keys (`NameHash`) rather than the names, and finds the member of a key through
/// the table's index by name, which hashes with the same function: a simulated mesh of 10,000 holds 10⁸ ring places.
/// Two names of one key (about 2⁻⁶⁴ a pair; it takes a cluster's signing key to choose names) share one place.
struct ProbeSchedule: Sendable {
    /// This member's name: its own place in the ring.
    let own: String
    private let ownKey: UInt64
    /// The key of every name known, this member's included, ascending once `sorted`; appended unsorted (and possibly
    /// twice) and put in order before the next use.
    private var ring: [UInt64]
    private var sorted = true
    /// `own`'s place in the sorted ring (found again after each change).
    private var ownPlace: Int? = 0
    /// The slot of the last probe: a wall clock that stands still or steps back does not repeat a target.
    private var lastSlot: UInt64?

    init(own: String) {
        self.own = own
        ownKey = Self.key(own)
        ring = [ownKey]
    }

    var count: Int { ring.count }

    /// Adds a name newly known (a no-op for one held already, once the ring is next put in order).
    mutating func add(_ name: String) {
        ring.append(Self.key(name))
        sorted = false
    }

    /// Removes a name no longer known in any generation.
    mutating func remove(_ name: String) {
        sortIfNeeded()
        let key = Self.key(name)
        guard key != ownKey, let i = place(of: key) else { return }
        ring.remove(at: i)
        ownPlace = place(of: ownKey)
    }

    /// The member to probe in wall-clock slot `slot` (nil: no wall clock, count locally): this slot's turn, or the
    /// next member after it in the ring that is active and not under a probe. Nil when no member qualifies.
    mutating func next(slot wallSlot: UInt64?, in table: MemberTable, isProbing: (MemberKey) -> Bool) -> Member? {
        sortIfNeeded()
        let slot: UInt64
        if let wallSlot, lastSlot.map({ wallSlot > $0 }) ?? true {
            slot = wallSlot
        } else {
            slot = (lastSlot ?? 0) &+ 1
        }
        lastSlot = slot
        let r = ring.count
        guard r >= 2, let me = ownPlace else { return nil }
        let first = me + 1 + Int(slot % UInt64(r - 1))
        for step in 0..<r {
            let i = (first + step) % r
            guard i != me else { continue }
            if let m = table[nameHash: ring[i]], m.state.isActive, !isProbing(m.key) { return m }
        }
        return nil
    }

    /// The ring order: `NameHash`, fixed, so that every member computes the same ring.
    static func key(_ name: String) -> UInt64 { NameHash.of(name) }

    /// The place of `key` in the sorted ring, by binary search.
    private func place(of key: UInt64) -> Int? {
        var low = 0, high = ring.count
        while low < high {
            let mid = (low + high) / 2
            if ring[mid] < key { low = mid + 1 } else { high = mid }
        }
        return low < ring.count && ring[low] == key ? low : nil
    }

    private mutating func sortIfNeeded() {
        guard !sorted else { return }
        sorted = true
        ring.sort()
        var kept = 0
        for i in ring.indices where kept == 0 || ring[i] != ring[kept - 1] {
            ring[kept] = ring[i]
            kept += 1
        }
        ring.removeLast(ring.count - kept)
        ownPlace = place(of: ownKey)
    }
}
