import Wire

/// What one member believes about another.
///
/// Kept small on purpose: every member holds one per other member, so a mesh of N holds N² of them (a 10,000-member
/// mesh, simulated in one process, holds 10⁸). The identity and address live in the record, which is shared.
struct Member: Sendable {
    /// The member's own newest signed record (alive or left): who and where it is, relayed in gossip and sync.
    var record: SignedMemberRecord
    /// The incarnation believed: the record's, or higher once an accusation at a higher one was accepted.
    var incarnation: UInt64
    var state: MemberState
    /// Suspect or dead on our word alone, from a probe that no one answered, not even a helper's nack (Lifeguard's
    /// sign that the fault is likely our own), and no other member has confirmed it (`GossipCore+Doubt`). Every
    /// write of `state` sets it too, so it is never set on an alive or departed member. Costs no memory (the
    /// padding after `state`).
    var doubtful = false
    /// Where the table lists this member: among its cluster's alive members (`MemberTable.aliveSlots`) while
    /// alive, among the tombstones (`MemberTable.tombstoneSlots`) while dead or left; kept by the table, -1 when
    /// not listed (a suspect). Fits in the padding after `state`, so costs no memory.
    var listPlace: Int32 = -1
    var stateSince: ContinuousClock.Instant

    var identity: MemberIdentity { record.record.identity }
    var address: PeerAddress { record.record.address }
    var name: String { record.name }
    var generation: UInt64 { record.generation }
    var cluster: String { record.cluster }
    var key: MemberKey { MemberKey(name: record.name, generation: record.generation) }

    var snapshot: MemberSnapshot {
        MemberSnapshot(identity: identity, address: address, state: state, incarnation: incarnation, doubtful: doubtful)
    }
}

/// A member's place in the table: its name and generation.
///
/// A name has one generation at a time: a newer one is a restart and replaces its predecessor. Only while a name is
/// started twice (two live processes, a `NameConflict`) does the table hold two generations of it, each a member of
/// its own that is probed, suspected and declared dead or left on its own.
struct MemberKey: Hashable, Sendable {
    var name: String
    var generation: UInt64
}

/// The members a core knows, in one dense array: scans (tombstone upkeep, probe rounds) walk contiguous memory, a
/// random member is one index away, and the order is the core's own, so a seeded run is repeatable.
///
/// Indexed by name for the newest generation of each name; the older generations held beside it (a name started
/// twice) have an index of their own, empty unless a name is in conflict, so that the common case costs no more
/// memory than a table by name.
struct MemberTable: Sendable {
    /// Every member, in insertion order except that a removal moves the last member into the gap.
    private(set) var members: [Member] = []
    /// The slot of each name's newest generation.
    private var slots = NameIndex()
    /// The slots of older generations held beside a newer one of the same name.
    private var olderSlots: [MemberKey: Int32] = [:]
    /// Members alive or suspect: what SWIM's formulas call N (with this member), kept with every change.
    private(set) var activeCount = 0
    /// Members dead or left, kept to reject stale rumours about them.
    private(set) var tombstoneCount = 0
    /// The slots of each cluster's alive members, for the cluster search: without it every member scanned its whole
    /// table for alive siblings on every suspicion it heard. The members without a cluster (the gateways) are listed
    /// under "", for the digests sent to them directly. Slots, not names, so that it adds 4 bytes per member to a
    /// table that a simulation holds N² times.
    private var rosters: [String: [Int32]] = [:]
    /// The slots of the members dead or left, for the tombstones' upkeep: without it every member scanned its whole
    /// table every few seconds once any member had died (10⁸ entries a sweep in a simulated mesh of 10,000).
    private(set) var tombstoneSlots: [Int32] = []

    var count: Int { members.count }
    var isEmpty: Bool { members.isEmpty }
    /// Whether any name is held in more than one generation.
    var hasOlderGenerations: Bool { !olderSlots.isEmpty }

    /// The newest generation of `name`.
    subscript(name: String) -> Member? {
        slots.slot(of: name, in: members).map { members[Int($0)] }
    }

    /// The state, incarnation and doubt of the member with exactly this key, read in place: no copy of its record.
    func standing(of key: MemberKey) -> (state: MemberState, incarnation: UInt64, doubtful: Bool)? {
        let slot: Int32
        if let s = slots.slot(of: key.name, in: members), members[Int(s)].generation == key.generation {
            slot = s
        } else if !olderSlots.isEmpty, let s = olderSlots[key] {
            slot = s
        } else {
            return nil
        }
        return (members[Int(slot)].state, members[Int(slot)].incarnation, members[Int(slot)].doubtful)
    }

    /// The state of the newest generation of `name`, read in place.
    func state(ofName name: String) -> MemberState? {
        slots.slot(of: name, in: members).map { members[Int($0)].state }
    }

    /// The newest generation of the name whose `NameHash` is `key`.
    subscript(nameHash key: UInt64) -> Member? {
        slots.slot(ofNameHash: key, in: members).map { members[Int($0)] }
    }

    /// The member with exactly this name and generation.
    subscript(key: MemberKey) -> Member? {
        if let slot = slots.slot(of: key.name, in: members), members[Int(slot)].generation == key.generation {
            return members[Int(slot)]
        }
        return olderSlots.isEmpty ? nil : olderSlots[key].map { members[Int($0)] }
    }

    /// Every generation of `name` held, newest first.
    func generations(of name: String) -> [Member] {
        guard let newest = self[name] else { return [] }
        guard !olderSlots.isEmpty else { return [newest] }
        let older = olderSlots.filter { $0.key.name == name }.map { members[Int($0.value)] }
        return [newest] + older.sorted { $0.generation > $1.generation }
    }

    /// Stores `m`: replaces the member with its key, or adds it (as its name's newest generation when it is newer
    /// than every generation held, beside them otherwise).
    mutating func set(_ m: Member) {
        let key = m.key
        if let slot = slots.slot(of: key.name, in: members) {
            let current = members[Int(slot)].generation
            if current == key.generation {
                overwrite(Int(slot), with: m)
                return
            }
            if let older = olderSlots[key] {
                overwrite(Int(older), with: m)
                return
            }
            count(m, by: 1)
            let slot32 = Int32(members.count)
            members.append(m)
            members[members.count - 1].listPlace = -1
            list(members.count - 1)
            if key.generation > current {
                olderSlots[MemberKey(name: key.name, generation: current)] = slot
                slots.move(key.name, from: slot, to: slot32)
            } else {
                olderSlots[key] = slot32
            }
        } else {
            count(m, by: 1)
            members.append(m)
            members[members.count - 1].listPlace = -1
            slots.insert(key.name, slot: Int32(members.count - 1), in: members)
            list(members.count - 1)
        }
    }

    private mutating func overwrite(_ slot: Int, with m: Member) {
        let old = members[slot]
        count(old, by: -1)
        count(m, by: 1)
        var m = m
        if let list = Self.list(of: old), list == Self.list(of: m) {
            m.listPlace = old.listPlace
            members[slot] = m
            return
        }
        unlist(old)
        m.listPlace = -1
        members[slot] = m
        list(slot)
    }

    private mutating func count(_ m: Member, by delta: Int) {
        if m.state.isActive { activeCount += delta } else { tombstoneCount += delta }
    }

    /// The list a member in this state belongs in.
    private enum List: Equatable {
        case roster(String)
        case tombstones
    }

    private static func list(of m: Member) -> List? {
        if !m.state.isActive { return .tombstones }
        return m.state == .alive ? .roster(m.cluster) : nil
    }

    /// Adds the member at `slot` to the list its state puts it in, if any.
    private mutating func list(_ slot: Int) {
        switch Self.list(of: members[slot]) {
        case .roster(let cluster):
            members[slot].listPlace = Int32(rosters[cluster]?.count ?? 0)
            rosters[cluster, default: []].append(Int32(slot))
        case .tombstones:
            members[slot].listPlace = Int32(tombstoneSlots.count)
            tombstoneSlots.append(Int32(slot))
        case nil:
            break
        }
    }

    /// Takes `m` (as it was listed) out of its list; the list's last member takes its place.
    private mutating func unlist(_ m: Member) {
        let place = Int(m.listPlace)
        func take(from list: inout [Int32]) {
            guard place >= 0, place < list.count else { return }
            let last = list.removeLast()
            if place < list.count {
                list[place] = last
                members[Int(last)].listPlace = Int32(place)
            }
        }
        switch Self.list(of: m) {
        case .roster(let cluster):
            guard var roster = rosters.removeValue(forKey: cluster) else { return }
            take(from: &roster)
            rosters[cluster] = roster
        case .tombstones:
            take(from: &tombstoneSlots)
        case nil:
            break
        }
    }

    /// The slot the list of `m` (as listed) holds it at must now say `slot`: the member moved.
    private mutating func relist(_ m: Member, at slot: Int) {
        switch Self.list(of: m) {
        case .roster(let cluster): rosters[cluster]?[Int(m.listPlace)] = Int32(slot)
        case .tombstones: tombstoneSlots[Int(m.listPlace)] = Int32(slot)
        case nil: break
        }
    }

    /// The slots of the alive members of `cluster` ("": those without a cluster), in no particular order.
    func aliveSlots(of cluster: String) -> [Int32] { rosters[cluster] ?? [] }

    /// The member in `slot` (from `aliveSlots` or `tombstoneSlots`).
    func member(atSlot slot: Int32) -> Member { members[Int(slot)] }

    /// Puts `m` in the place of the member `old` (a restart: the successor takes its predecessor's slot, so the
    /// table's order, and with it a seeded run, does not change).
    mutating func replace(_ old: MemberKey, with m: Member) {
        guard old.name == m.name, let slot = slots.slot(of: old.name, in: members), members[Int(slot)].generation == old.generation,
              m.generation >= old.generation, olderSlots[m.key] == nil else {
            removeValue(forKey: old)
            set(m)
            return
        }
        overwrite(Int(slot), with: m)
    }

    /// Removes the member with `key` and returns it; the last member moves into its slot. When the newest
    /// generation of a name goes, the next older one held (if any) becomes the newest.
    @discardableResult
    mutating func removeValue(forKey key: MemberKey) -> Member? {
        let slot: Int
        if let s = slots.slot(of: key.name, in: members), members[Int(s)].generation == key.generation {
            slots.remove(key.name, slot: s, in: members)
            slot = Int(s)
        } else if let s = olderSlots.removeValue(forKey: key) {
            slot = Int(s)
        } else {
            return nil
        }
        let removed = members[slot]
        count(removed, by: -1)
        unlist(removed)
        let last = members.removeLast()
        if slot < members.count {
            members[slot] = last
            relist(last, at: slot)
            // The last member's old slot, `members.count` now, is found by its number, not by comparing names.
            if !slots.move(last.name, from: Int32(members.count), to: Int32(slot)) {
                olderSlots[last.key] = Int32(slot)
            }
        }
        if !olderSlots.isEmpty, slots.slot(of: key.name, in: members) == nil,
           let next = olderSlots.filter({ $0.key.name == key.name }).max(by: { $0.key.generation < $1.key.generation }) {
            olderSlots[next.key] = nil
            slots.insert(key.name, slot: next.value, in: members)
        }
        return removed
    }

    /// Makes room for a batch of up to `incoming` new members at once (a joiner's first state sync brings the whole
    /// mesh) rather than growing by doubling, which would keep up to twice the room for good. A few at a time grow
    /// the usual way, so that a sync bringing one newcomer never copies the table to add one slot.
    mutating func reserveCapacity(forAdding incoming: Int) {
        let needed = members.count + incoming
        guard incoming > 64, needed > members.capacity else { return }
        members.reserveCapacity(needed)
        slots.reserveCapacity(needed, in: members)
    }

    /// A uniformly random member, or nil when the table is empty.
    func randomMember(using rng: inout some RandomNumberGenerator) -> Member? {
        members.isEmpty ? nil : members[Int.random(in: 0..<members.count, using: &rng)]
    }
}
