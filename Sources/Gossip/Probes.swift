import Wire

/// One probe under way (SWIM): a direct ping, then, at `timeoutAt` without an ack, ping requests to helpers; at
/// `endAt` without an ack, the target is suspect.
struct Probe: Sendable {
    typealias Instant = ContinuousClock.Instant

    var target: String
    var generation: UInt64
    var incarnation: UInt64
    var address: PeerAddress
    var sequence: UInt32
    var timeoutAt: Instant
    var endAt: Instant
    var indirectSent = false
    var expectedNacks = 0
    var nacks = 0
    /// Out of turn, searching a suspect's cluster; the round robin goes on beside it.
    var isSearch = false
    /// Out of turn too, after a probe that no one answered: whether this member is cut off (`GossipCore.checkSelf`).
    var checksSelf = false

    var key: MemberKey { MemberKey(name: target, generation: generation) }

    /// When the probe next needs attention: its timeout until the helpers are asked, then its end.
    var wake: Instant { indirectSent ? endAt : timeoutAt }
}

/// The probes a member has under way: at most one of the round robin, and searches of suspects' clusters.
struct ProbesInFlight: Sendable {
    /// Oldest first; a probe's place decides nothing but the order in which probes ending together conclude.
    private(set) var list: [Probe] = []

    var isEmpty: Bool { list.isEmpty }
    var count: Int { list.count }

    /// Whether the round robin's probe is under way (it starts the next only when this one is over).
    var hasRoundProbe: Bool { list.contains { !$0.isSearch } }

    /// Searches under way.
    var searches: Int { list.count(where: \.isSearch) }

    /// Whether the member `key` is being probed already.
    func isProbing(_ key: MemberKey) -> Bool {
        list.contains { $0.target == key.name && $0.generation == key.generation }
    }

    mutating func start(_ probe: Probe) { list.append(probe) }

    /// Counts a helper's nack for the probe with `sequence`; false when no probe under way has it.
    mutating func noteNack(sequence: UInt32) -> Bool {
        guard let i = list.firstIndex(where: { $0.sequence == sequence }) else { return false }
        list[i].nacks += 1
        return true
    }

    /// Ends the probe that the ack with `sequence` from `source` answers; false when none does.
    mutating func answer(sequence: UInt32, from source: String) -> Bool {
        guard let i = list.firstIndex(where: { $0.sequence == sequence && $0.target == source }) else { return false }
        list.remove(at: i)
        return true
    }

    /// The probe at `index` (oldest first).
    subscript(index: Int) -> Probe {
        get { list[index] }
        set { list[index] = newValue }
    }

    /// Removes the probe at `index` (its period ended) and returns it.
    mutating func remove(at index: Int) -> Probe { list.remove(at: index) }

    mutating func removeAll() { list.removeAll() }
}

/// Ping requests this member carries out for others (SWIM's indirect probe), by the sequence of its own ping.
struct Relays: Sendable {
    typealias Instant = ContinuousClock.Instant

    struct Relay: Sendable {
        var requester: PeerAddress
        var requesterSequence: UInt32
        var target: String
        /// When to tell the requester that the target stays silent (Lifeguard's nack); nil once told or unasked.
        var nackAt: Instant?
        var expiresAt: Instant
    }

    private var bySequence: [UInt32: Relay] = [:]

    var isEmpty: Bool { bySequence.isEmpty }

    /// The earliest instant a relay needs attention: a nack to send, or its end.
    var nextWake: Instant? { bySequence.values.lazy.map { $0.nackAt ?? $0.expiresAt }.min() }

    mutating func start(_ relay: Relay, sequence: UInt32) { bySequence[sequence] = relay }

    /// The relay the ack with `sequence` from `source` answers, removed; nil when none (a relay answered by
    /// another member than its target is dropped too, as before: the sequence was ours alone).
    mutating func answer(sequence: UInt32, from source: String) -> Relay? {
        guard let relay = bySequence.removeValue(forKey: sequence), relay.target == source else { return nil }
        return relay
    }

    /// The relays whose nack is due at `now` (each nacked once), in sequence order; relays past their end are
    /// forgotten.
    mutating func due(now: Instant) -> [Relay] {
        guard !bySequence.isEmpty else { return [] }
        var nacks: [Relay] = []
        for (seq, relay) in bySequence.sorted(by: { $0.key < $1.key }) {
            if let nackAt = relay.nackAt, now >= nackAt {
                bySequence[seq]?.nackAt = nil
                nacks.append(relay)
            }
            if now >= relay.expiresAt { bySequence[seq] = nil }
        }
        // A dictionary keeps the room of its fullest moment: give it back once a burst (a cluster failing sends
        // every member relaying for the searches) is over.
        if bySequence.isEmpty { bySequence = [:] }
        return nacks
    }
}
