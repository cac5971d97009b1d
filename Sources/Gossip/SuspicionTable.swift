/// The suspicions a member holds, by member: dense arrays of the suspicions and their members' keys, and an
/// open-addressed index of 4-byte slots into them (as `NameIndex` is for the member table).
///
/// Every survivor of a cluster of N/8 killed at once holds N/8 suspicions. A dictionary kept each one's key and
/// value in buckets at a load of at most 3/4 (at 250 suspicions, 512 buckets of 128 bytes: 262 bytes a suspicion,
/// the largest part of what the cluster's failure adds to a simulated mesh); here they take their own size in
/// arrays that grow by doubling, and 4 to 11 bytes of index (at 250, about 140 bytes a suspicion).
///
/// A removal moves the last suspicion into the gap, so slots are not stable across `remove`.
struct SuspicionTable: Sendable {
    private(set) var values: [Suspicion] = []
    private(set) var keys: [MemberKey] = []
    /// Linear probing; -1 is an empty bucket. The count is a power of two (or zero).
    private var buckets: [Int32] = []

    var count: Int { values.count }
    var isEmpty: Bool { values.isEmpty }

    private var mask: Int { buckets.count - 1 }

    /// A fixed hash (`NameHash`, mixed with the generation): every key came in a record signed by a cluster's key.
    private static func hash(_ key: MemberKey) -> Int {
        Int(truncatingIfNeeded: NameHash.of(key.name) &+ key.generation &* 0x9E37_79B9_7F4A_7C15)
    }

    /// The slot of `key`'s suspicion, if one is held.
    func slot(of key: MemberKey) -> Int? {
        guard !values.isEmpty else { return nil }
        var i = Self.hash(key) & mask
        while true {
            let s = buckets[i]
            if s < 0 { return nil }
            if keys[Int(s)] == key { return Int(s) }
            i = (i + 1) & mask
        }
    }

    subscript(slot: Int) -> Suspicion {
        get { values[slot] }
        _modify { yield &values[slot] }
    }

    /// Stores `suspicion` of `key`, replacing any held; returns its slot.
    @discardableResult
    mutating func set(_ suspicion: Suspicion, of key: MemberKey) -> Int {
        if let s = slot(of: key) {
            values[s] = suspicion
            return s
        }
        if (values.count + 1) * 4 > buckets.count * 3 { rehash(capacity: values.count + 1) }
        let s = Int32(values.count)
        values.append(suspicion)
        keys.append(key)
        var i = Self.hash(key) & mask
        while buckets[i] >= 0 { i = (i + 1) & mask }
        buckets[i] = s
        return Int(s)
    }

    /// Removes `key`'s suspicion; false when none is held. The last one gone, the room is given back (the arrays
    /// would keep the room of their fullest moment otherwise: some hundreds of kB a member after a cluster failed).
    @discardableResult
    mutating func remove(_ key: MemberKey) -> Bool {
        guard let s = slot(of: key) else { return false }
        removeBucket(of: key, at: Int32(s))
        let last = values.count - 1
        if s != last {
            // The last suspicion moves into the gap: its bucket follows it.
            moveBucket(of: keys[last], from: Int32(last), to: Int32(s))
            values[s] = values[last]
            keys[s] = keys[last]
        }
        values.removeLast()
        keys.removeLast()
        if values.isEmpty {
            values = []
            keys = []
            buckets = []
        }
        return true
    }

    private func bucket(of key: MemberKey, at slot: Int32) -> Int? {
        var i = Self.hash(key) & mask
        while true {
            let s = buckets[i]
            if s < 0 { return nil }
            if s == slot { return i }
            i = (i + 1) & mask
        }
    }

    private mutating func moveBucket(of key: MemberKey, from old: Int32, to new: Int32) {
        if let i = bucket(of: key, at: old) { buckets[i] = new }
    }

    /// Empties the bucket of `key` at `slot`, shifting the entries after it back into the gap (no tombstones).
    /// The keys of the slots probed after it must still be in place.
    private mutating func removeBucket(of key: MemberKey, at slot: Int32) {
        guard var gap = bucket(of: key, at: slot) else { return }
        var j = gap
        while true {
            j = (j + 1) & mask
            let s = buckets[j]
            if s < 0 { break }
            let home = Self.hash(keys[Int(s)]) & mask
            // The entry at j may fill the gap unless its home lies cyclically after the gap, up to j.
            if (j - home) & mask >= (j - gap) & mask {
                buckets[gap] = s
                gap = j
            }
        }
        buckets[gap] = -1
    }

    private mutating func rehash(capacity: Int) {
        var size = 8
        while size * 3 < capacity * 4 { size *= 2 }
        buckets = Array(repeating: -1, count: size)
        for s in keys.indices {
            var i = Self.hash(keys[s]) & mask
            while buckets[i] >= 0 { i = (i + 1) & mask }
            buckets[i] = Int32(s)
        }
    }
}
