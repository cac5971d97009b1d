/// The suspicions a member holds, by member: dense arrays of the suspicions and their members' keys, and a
/// `SlotIndex` of 4-byte slots into them (as `NameIndex` is for the member table).
///
/// Every survivor of a cluster of N/8 killed at once holds N/8 suspicions. A dictionary kept each one's key and
/// value in buckets at a load of at most 3/4 (at 250 suspicions, 512 buckets of 128 bytes: 262 bytes a suspicion,
/// the largest part of what the cluster's failure adds to a simulated mesh); here they take their own size in
/// arrays that grow by a quarter (`appendGrowingByAQuarter`), and 4 to 11 bytes of index (at 250, about 140 bytes a suspicion).
///
/// A removal moves the last suspicion into the gap, so slots are not stable across `remove`.
struct SuspicionTable: Sendable {
    private(set) var values: [Suspicion] = []
    private(set) var keys: [MemberKey] = []
    private var index = SlotIndex()

    var count: Int { values.count }
    var isEmpty: Bool { values.isEmpty }

    /// A fixed hash (`NameHash`, mixed with the generation): every key came in a record signed by a cluster's key.
    private static func hash(_ key: MemberKey) -> Int {
        Int(truncatingIfNeeded: NameHash.of(key.name) &+ key.generation &* 0x9E37_79B9_7F4A_7C15)
    }

    /// The slot of `key`'s suspicion, if one is held.
    func slot(of key: MemberKey) -> Int? {
        index.find(hash: Self.hash(key)) { keys[Int($0)] == key }.map(Int.init)
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
        values.appendGrowingByAQuarter(suspicion)
        keys.appendGrowingByAQuarter(key)
        // The index hashes the keys as it grows: it reads a reference to them, not `self`, which it changes.
        let held = keys
        index.insert(Int32(held.count - 1), hash: Self.hash(key)) { Self.hash(held[Int($0)]) }
        return values.count - 1
    }

    /// Removes `key`'s suspicion; false when none is held. The last one gone, the room is given back (the arrays
    /// would keep the room of their fullest moment otherwise: some hundreds of kB a member after a cluster failed).
    @discardableResult
    mutating func remove(_ key: MemberKey) -> Bool {
        guard let s = slot(of: key) else { return false }
        do {
            // A reference to the keys, given up before they change (which would copy them otherwise).
            let held = keys
            index.remove(Int32(s), hash: Self.hash(key)) { Self.hash(held[Int($0)]) }
        }
        let last = values.count - 1
        if s != last {
            // The last suspicion moves into the gap: its slot in the index follows it.
            index.move(hash: Self.hash(keys[last]), from: Int32(last), to: Int32(s))
            values[s] = values[last]
            keys[s] = keys[last]
        }
        values.removeLast()
        keys.removeLast()
        if values.isEmpty {
            values = []
            keys = []
            index.removeAll()
        }
        return true
    }
}
