/// The member table's index by name: for each name, the slot of its newest generation in the table's array.
///
/// A dictionary from name to slot keeps a 16-byte copy of every name beside its slot, at a load of at most 3/4:
/// some 33 bytes a member, a third of what a simulation of 10,000 members holds per entry (10⁸ of them). The
/// names are in the table already, so this index keeps slots alone (4 bytes, at a load of at most 3/4, 5 to 11
/// bytes a member) in an open-addressed array, and finds a name by comparing it with the name of the member
/// in each slot it probes (about 2.5 probes for a name held at the highest load, 8.5 for one that is not).
///
/// Every call that compares or rehashes names is given the table's members, and every slot held must index them
/// then; `move` and `remove` compare slots only, so that the table may renumber a member around them. The probing
/// is `SlotIndex`'s.
struct NameIndex: Sendable {
    private var index = SlotIndex()

    var count: Int { index.count }

    /// `NameHash` rather than Swift's per-process seeded hash, so that the probe ring (which holds names' hashes)
    /// can find a member by its hash alone. Not flood-resistant: every name in the table came in a record signed
    /// by a cluster's key.
    private static func hash(_ name: String) -> Int { Int(truncatingIfNeeded: NameHash.of(name)) }

    /// The slot of `name`, if it is held.
    func slot(of name: String, in members: [Member]) -> Int32? {
        index.find(hash: Self.hash(name)) { members[Int($0)].name == name }
    }

    /// The slot of the name whose `NameHash` is `key`, if one is held.
    func slot(ofNameHash key: UInt64, in members: [Member]) -> Int32? {
        index.find(hash: Int(truncatingIfNeeded: key)) { NameHash.of(members[Int($0)].name) == key }
    }

    /// Adds `name` at `slot`; the name must not be held yet, and `members[slot]` must be that member.
    mutating func insert(_ name: String, slot: Int32, in members: [Member]) {
        index.insert(slot, hash: Self.hash(name)) { Self.hash(members[Int($0)].name) }
    }

    /// Moves `name` from slot `old` to `new`; false when `name` is not held at `old`. Compares slots only.
    @discardableResult
    mutating func move(_ name: String, from old: Int32, to new: Int32) -> Bool {
        index.move(hash: Self.hash(name), from: old, to: new)
    }

    /// Removes `name`, held at `slot`. The members of the slots probed after it must still be in place.
    mutating func remove(_ name: String, slot: Int32, in members: [Member]) {
        index.remove(slot, hash: Self.hash(name)) { Self.hash(members[Int($0)].name) }
    }

    /// Makes room for `capacity` names without growing again.
    mutating func reserveCapacity(_ capacity: Int, in members: [Member]) {
        index.reserveCapacity(capacity) { Self.hash(members[Int($0)].name) }
    }
}
