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
    var stateSince: ContinuousClock.Instant

    var identity: MemberIdentity { record.record.identity }
    var address: PeerAddress { record.record.address }
    var name: String { record.record.identity.name }

    var snapshot: MemberSnapshot {
        MemberSnapshot(identity: identity, address: address, state: state, incarnation: incarnation)
    }
}

/// The members a core knows, by name, in one dense array: scans (tombstone upkeep, probe rounds) walk contiguous
/// memory, a random member is one index away, and the order is the core's own, so a seeded run is repeatable.
struct MemberTable: Sendable {
    /// Every member, in insertion order except that a removal moves the last member into the gap.
    private(set) var members: [Member] = []
    private var slots: [String: Int32] = [:]

    var count: Int { members.count }
    var isEmpty: Bool { members.isEmpty }

    /// The member called `name`; setting stores it (replacing or appending), setting nil removes it.
    subscript(name: String) -> Member? {
        get { slots[name].map { members[Int($0)] } }
        set {
            guard let newValue else {
                removeValue(forName: name)
                return
            }
            if let slot = slots[name] {
                members[Int(slot)] = newValue
            } else {
                slots[name] = Int32(members.count)
                members.append(newValue)
            }
        }
    }

    /// Removes the member called `name` and returns it; the last member moves into its slot.
    @discardableResult
    mutating func removeValue(forName name: String) -> Member? {
        guard let slot = slots.removeValue(forKey: name).map(Int.init) else { return nil }
        let removed = members[slot]
        let last = members.removeLast()
        if slot < members.count {
            members[slot] = last
            slots[last.name] = Int32(slot)
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
        slots.reserveCapacity(needed)
    }

    /// A uniformly random member, or nil when the table is empty.
    func randomMember(using rng: inout some RandomNumberGenerator) -> Member? {
        members.isEmpty ? nil : members[Int.random(in: 0..<members.count, using: &rng)]
    }
}
