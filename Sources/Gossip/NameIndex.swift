/// The member table's index by name: for each name, the slot of its newest generation in the table's array.
///
/// A dictionary from name to slot keeps a 16-byte copy of every name beside its slot, at a load of at most 3/4:
/// some 33 bytes a member, a third of what a simulation of 10,000 members holds per entry (10⁸ of them). The
/// names are in the table already, so this index keeps slots alone (4 bytes, at a load of at most 3/4, 5 to 11
/// bytes a member) in an open-addressed array, and finds a name by comparing it with the name of the member
/// in each slot it probes (about 2.5 probes for a name held at the highest load, 8.5 for one that is not).
///
/// Every call that compares or rehashes names is given the table's members, and every slot held must index them
/// then; `move` and `remove` compare slots only, so that the table may renumber a member around them.
struct NameIndex: Sendable {
    /// Open addressing with linear probing; -1 is an empty bucket. The count is a power of two (or zero).
    private var buckets: [Int32] = []
    private(set) var count = 0

    private var mask: Int { buckets.count - 1 }

    /// `NameHash` rather than Swift's per-process seeded hash, so that the probe ring (which holds names' hashes)
    /// can find a member by its hash alone. Not flood-resistant: every name in the table came in a record signed
    /// by a cluster's key.
    private static func hash(_ name: String) -> Int { Int(truncatingIfNeeded: NameHash.of(name)) }

    /// The slot of `name`, if it is held.
    func slot(of name: String, in members: [Member]) -> Int32? {
        guard count > 0 else { return nil }
        var i = Self.hash(name) & mask
        while true {
            let s = buckets[i]
            if s < 0 { return nil }
            if members[Int(s)].name == name { return s }
            i = (i + 1) & mask
        }
    }

    /// The slot of the name whose `NameHash` is `key`, if one is held.
    func slot(ofNameHash key: UInt64, in members: [Member]) -> Int32? {
        guard count > 0 else { return nil }
        var i = Int(truncatingIfNeeded: key) & mask
        while true {
            let s = buckets[i]
            if s < 0 { return nil }
            if NameHash.of(members[Int(s)].name) == key { return s }
            i = (i + 1) & mask
        }
    }

    /// Adds `name` at `slot`; the name must not be held yet, and `members[slot]` must be that member.
    mutating func insert(_ name: String, slot: Int32, in members: [Member]) {
        if (count + 1) * 4 > buckets.count * 3 { rehash(capacity: count + 1, in: members) }
        var i = Self.hash(name) & mask
        while buckets[i] >= 0 { i = (i + 1) & mask }
        buckets[i] = slot
        count += 1
    }

    /// Moves `name` from slot `old` to `new`; false when `name` is not held at `old`. Compares slots only.
    @discardableResult
    mutating func move(_ name: String, from old: Int32, to new: Int32) -> Bool {
        guard let i = bucket(of: name, at: old) else { return false }
        buckets[i] = new
        return true
    }

    /// Removes `name`, held at `slot`. The members of the slots probed after it must still be in place: the
    /// entries after the gap are shifted back into it (no tombstones, so a long-lived table never degrades).
    mutating func remove(_ name: String, slot: Int32, in members: [Member]) {
        guard var gap = bucket(of: name, at: slot) else { return }
        var j = gap
        while true {
            j = (j + 1) & mask
            let s = buckets[j]
            if s < 0 { break }
            let home = Self.hash(members[Int(s)].name) & mask
            // The entry at j may fill the gap unless its home lies cyclically after the gap, up to j.
            if (j - home) & mask >= (j - gap) & mask {
                buckets[gap] = s
                gap = j
            }
        }
        buckets[gap] = -1
        count -= 1
    }

    /// Makes room for `capacity` names without growing again.
    mutating func reserveCapacity(_ capacity: Int, in members: [Member]) {
        if capacity * 4 > buckets.count * 3 { rehash(capacity: capacity, in: members) }
    }

    private func bucket(of name: String, at slot: Int32) -> Int? {
        guard count > 0 else { return nil }
        var i = Self.hash(name) & mask
        while true {
            let s = buckets[i]
            if s < 0 { return nil }
            if s == slot { return i }
            i = (i + 1) & mask
        }
    }

    private mutating func rehash(capacity: Int, in members: [Member]) {
        var size = 8
        while size * 3 < capacity * 4 { size *= 2 }
        let old = buckets
        buckets = Array(repeating: -1, count: size)
        for s in old where s >= 0 {
            var i = Self.hash(members[Int(s)].name) & mask
            while buckets[i] >= 0 { i = (i + 1) & mask }
            buckets[i] = s
        }
    }
}
