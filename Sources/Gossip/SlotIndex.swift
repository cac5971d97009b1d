/// An open-addressed index of 4-byte slots into an array kept elsewhere, for the tables a simulated mesh holds N²
/// or N·N/8 of (`NameIndex`, `SuspicionTable`): a dictionary would keep a copy of every key beside its value, at a
/// load of at most 3/4; this keeps the slots alone and leaves the keys where they are, so its callers say how to
/// hash the key at a slot and whether a slot holds the key sought.
///
/// Linear probing at a load of at most 3/4, -1 for an empty bucket; a removal shifts the entries after the gap
/// back into it (no tombstones, so a long-lived index never degrades).
struct SlotIndex: Sendable {
    /// The count is a power of two (or zero).
    private var buckets: [Int32] = []
    private(set) var count = 0

    private var mask: Int { buckets.count - 1 }

    /// The first slot probed from `hash` for which `matches` holds.
    @inline(__always)
    func find(hash: Int, where matches: (Int32) -> Bool) -> Int32? {
        guard count > 0 else { return nil }
        var i = hash & mask
        while true {
            let s = buckets[i]
            if s < 0 { return nil }
            if matches(s) { return s }
            i = (i + 1) & mask
        }
    }

    /// Adds `slot`, whose key hashes to `hash`; `hashAt` hashes the key of every slot held (to grow).
    mutating func insert(_ slot: Int32, hash: Int, hashAt: (Int32) -> Int) {
        if (count + 1) * 4 > buckets.count * 3 { rehash(capacity: count + 1, hashAt: hashAt) }
        var i = hash & mask
        while buckets[i] >= 0 { i = (i + 1) & mask }
        buckets[i] = slot
        count += 1
    }

    /// Renumbers `old` (whose key hashes to `hash`) as `new`; false when `old` is not held. Compares slots only.
    @discardableResult
    mutating func move(hash: Int, from old: Int32, to new: Int32) -> Bool {
        guard let i = bucket(hash: hash, slot: old) else { return false }
        buckets[i] = new
        return true
    }

    /// Removes `slot`, whose key hashes to `hash`. The keys of the slots probed after it must still be in place.
    mutating func remove(_ slot: Int32, hash: Int, hashAt: (Int32) -> Int) {
        guard var gap = bucket(hash: hash, slot: slot) else { return }
        var j = gap
        while true {
            j = (j + 1) & mask
            let s = buckets[j]
            if s < 0 { break }
            let home = hashAt(s) & mask
            // The entry at j may fill the gap unless its home lies cyclically after the gap, up to j.
            if (j - home) & mask >= (j - gap) & mask {
                buckets[gap] = s
                gap = j
            }
        }
        buckets[gap] = -1
        count -= 1
    }

    /// Makes room for `capacity` slots without growing again.
    mutating func reserveCapacity(_ capacity: Int, hashAt: (Int32) -> Int) {
        if capacity * 4 > buckets.count * 3 { rehash(capacity: capacity, hashAt: hashAt) }
    }

    /// Empties the index and gives its room back.
    mutating func removeAll() {
        buckets = []
        count = 0
    }

    private func bucket(hash: Int, slot: Int32) -> Int? {
        guard count > 0 else { return nil }
        var i = hash & mask
        while true {
            let s = buckets[i]
            if s < 0 { return nil }
            if s == slot { return i }
            i = (i + 1) & mask
        }
    }

    private mutating func rehash(capacity: Int, hashAt: (Int32) -> Int) {
        var size = 8
        while size * 3 < capacity * 4 { size *= 2 }
        let old = buckets
        buckets = Array(repeating: -1, count: size)
        for s in old where s >= 0 {
            var i = hashAt(s) & mask
            while buckets[i] >= 0 { i = (i + 1) & mask }
            buckets[i] = s
        }
    }
}
