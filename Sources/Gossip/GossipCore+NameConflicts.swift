import Wire

/// Names started twice: telling a restart (a newer generation replaces its predecessor) from two live processes
/// under one name, by pinging the older generation (`GenerationChecks`), and reporting the conflicts found.
extension GossipCore {
    /// Names held by two or more live processes at once, this member's own name included when another process uses
    /// it: what the daemon shows operators until the extra process is stopped.
    public var nameConflicts: [NameConflict] {
        var out: [NameConflict] = []
        if table.hasOlderGenerations {
            var seen: Set<String> = []
            for m in table.members where m.state.isActive && seen.insert(m.name).inserted {
                let live = table.generations(of: m.name).filter(\.state.isActive)
                if live.count > 1 { out.append(NameConflict(name: m.name, members: live.map(\.snapshot))) }
            }
        }
        if !selfConflicts.isEmpty, !hasLeft {
            out.append(NameConflict(name: identity.name, members: [selfSnapshot] + selfConflicts.values))
        }
        return out.sorted { $0.name < $1.name }
    }

    /// A record with this member's own name: its own (relayed back), a predecessor's, or another process's.
    mutating func receiveNamesake(_ signed: SignedMemberRecord, now: Instant, rng: inout some RandomNumberGenerator) {
        let record = signed.record
        if record.status == .left, selfConflicts[record.identity.generation] != nil {
            // The other process left: the name is ours alone again.
            selfConflicts[record.identity.generation] = nil
            return
        }
        guard record.identity.generation != identity.generation, record.status == .alive, !hasLeft else { return }
        guard record.identity.generation > identity.generation else {
            // An older generation: a predecessor's rumour, unless it answers a ping (then it runs beside us).
            checkOlderGeneration(signed, now: now)
            return
        }
        // A newer process with this member's name, while this one runs: the name is started twice.
        guard verified(signed) else { return }
        noteSelfConflict(with: MemberSnapshot(identity: record.identity, address: record.address, state: .alive,
                                              incarnation: record.incarnation))
        // Members that took the newcomer for our restart ping us to find out; if that ping was lost, a newer record
        // of ours makes them ask again. At most once a dead-probe interval, however often the namesake is heard.
        if lastReassertAt.map({ now - $0 >= settings.deadProbeInterval }) ?? true {
            lastReassertAt = now
            incarnation += 1
            selfRecord = Self.sign(MemberRecord(identity: identity, address: address, incarnation: incarnation, status: .alive), signer)
            enqueueMembership(.member(selfRecord), about: identity.name, now: now, rng: &rng)
        }
    }

    /// Pings the generation of `signed` (older than one held of its name) at its address, to learn whether it still
    /// runs, unless it was found gone at this incarnation already or `besides` (a newer generation's address, where
    /// the older process cannot be any more) is its address.
    mutating func checkOlderGeneration(_ signed: SignedMemberRecord, besides newcomer: PeerAddress? = nil, now: Instant) {
        let record = signed.record
        let key = MemberKey(name: record.identity.name, generation: record.identity.generation)
        guard record.status == .alive, generationChecks.shouldCheck(key, incarnation: record.incarnation) else { return }
        // Two processes cannot share an address: where a newer generation (or this member) lives, the older is gone.
        if record.address == address || record.address == newcomer
            || table.generations(of: key.name).contains(where: { $0.address == record.address && $0.identity.generation > key.generation }) {
            generationChecks.markSilent(signed, now: now)
            return
        }
        guard verified(signed) else { return }
        let sequence = nextSequence()
        generationChecks.start(sequence: sequence, record: signed, expiresAt: now + settings.probeInterval)
        sendGenerationPing(sequence, to: signed)
    }

    private mutating func sendGenerationPing(_ sequence: UInt32, to signed: SignedMemberRecord) {
        let record = signed.record
        let ping = GossipMessage.ping(Ping(sequence: sequence, source: identity.name, target: record.identity.name,
                                           targetGeneration: record.identity.generation))
        out.append(.send([ping], to: record.address, bytes: WireEncoding.packetSize(messageSizes: [WireEncoding.encodedSize(of: ping)])))
    }

    /// Checks that timed out: pinged once more, then taken as gone.
    mutating func expireGenerationChecks(now: Instant) {
        for record in generationChecks.expire(now: now) {
            let sequence = nextSequence()
            generationChecks.retry(sequence: sequence, record: record, expiresAt: now + settings.probeInterval)
            sendGenerationPing(sequence, to: record)
        }
    }

    /// An older generation answered a ping addressed to it: it runs beside its namesake. It becomes a member of its
    /// own (alive: the answer is fresher than any rumour), and the conflict is reported.
    mutating func admitOlderGeneration(_ signed: SignedMemberRecord, now: Instant, rng: inout some RandomNumberGenerator) {
        let record = signed.record
        if record.identity.name == identity.name {
            noteSelfConflict(with: MemberSnapshot(identity: record.identity, address: record.address, state: .alive,
                                                  incarnation: record.incarnation))
            return
        }
        let key = MemberKey(name: record.identity.name, generation: record.identity.generation)
        guard table[key] == nil else { return }
        if let newest = table[key.name], newest.identity.generation < key.generation { return }
        insert(Member(record: signed, incarnation: record.incarnation, state: .alive, stateSince: now), rng: &rng)
    }

    /// Reports `name` as started twice when two or more of its generations are live.
    mutating func reportConflict(over name: String) {
        guard table.hasOlderGenerations else { return }
        let live = table.generations(of: name).filter(\.state.isActive)
        guard live.count > 1 else { return }
        out.append(.nameConflict(NameConflict(name: name, members: live.map(\.snapshot))))
    }

    /// Another process runs under this member's name: reported once per generation (a few at most are kept).
    private mutating func noteSelfConflict(with other: MemberSnapshot) {
        guard !hasLeft, selfConflicts[other.identity.generation] == nil, selfConflicts.count < 8 else { return }
        selfConflicts[other.identity.generation] = other
        out.append(.nameConflict(NameConflict(name: identity.name, members: [selfSnapshot, other])))
    }
}
