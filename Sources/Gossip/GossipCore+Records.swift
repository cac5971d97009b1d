import Wire

/// Member records: the signed alive and left records of others, checked, merged into the table, and the changes
/// reported. The table keeps its own counts of active members and tombstones (`MemberTable`).
extension GossipCore {
    mutating func verified(_ record: SignedMemberRecord) -> Bool {
        if memo.contains(record) { return true }
        if let rejection = verifier.verify(record) {
            out.append(.recordRejected(rejection))
            return false
        }
        memo.insert(record)
        return true
    }

    /// - Parameter deadAt: the incarnation at which a state sync's verdict declares this generation dead, if any.
    /// - Parameter viaSync: whether the record came in a state sync (a tombstone learned there is not passed on).
    mutating func receive(
        _ signed: SignedMemberRecord, relay: Bool, deadAt: UInt64? = nil, viaSync: Bool = false, now: Instant,
        rng: inout some RandomNumberGenerator
    ) {
        let record = signed.record
        let name = record.identity.name
        guard !name.isEmpty else { return }
        guard name != identity.name else {
            receiveNamesake(signed, now: now, rng: &rng)
            return
        }
        let key = MemberKey(name: name, generation: record.identity.generation)
        let newest = table[name]
        var existing: Member?
        var predecessor: Member?
        if let newest {
            if newest.generation == key.generation {
                existing = newest
            } else if key.generation > newest.generation {
                predecessor = newest
            } else {
                // An older generation than the newest held: a member of its own only while both run.
                existing = table.hasOlderGenerations ? table[key] : nil
                if existing == nil {
                    checkOlderGeneration(signed, now: now)
                    return
                }
            }
        }
        if let held = existing ?? predecessor, !held.cluster.isEmpty, held.cluster != record.identity.cluster,
           existing != nil || record.identity.cluster.isEmpty {
            // Clusterless records may be unsigned (gateways): without this, one at a higher incarnation or generation
            // would take a signed agent's name and address. A generation may move to another cluster, signed.
            out.append(.recordRejected(.clusterChanged(origin: name, held: held.cluster, received: record.identity.cluster)))
            return
        }
        if let m = existing {
            // Within one generation, only a strictly newer incarnation says anything new; a left member stays
            // left, and an accusation at the same incarnation outranks the alive record it accused.
            if m.state == .left { return }
            if record.status == .alive, record.incarnation <= m.incarnation { return }
            if record.status == .left, record.incarnation < m.incarnation { return }
        }
        guard verified(signed) else { return }
        let dead = record.status == .alive && deadAt.map { $0 >= record.incarnation } == true
        let previous = (existing ?? predecessor)?.state
        if previous == .dead, record.status == .alive, !dead {
            // A dead member is back: likely a healed partition, so look for the rest of its side quickly.
            tombstones.startBurst(until: now + settings.deadProbeInterval * 5)
            if let at = nextMaintenanceAt, at > now + settings.probeInterval { nextMaintenanceAt = now + settings.probeInterval }
        }
        if let existing, existing.state == .suspect || existing.state == .dead, record.status == .alive, !dead {
            // Back from a partition or a pause: what it says about others is stale for a while.
            returned.noteReturn(of: name, at: now)
            // It refuted what we said on our own doubtful word: our word got out and its answer came back, so we are
            // in touch again (`GossipCore+Doubt`), even before our own probes, stretched while we were cut off, say so.
            if existing.doubtful { noteAnswered(now: now) }
        }
        if let predecessor {
            // A restart: the new generation replaces every generation held of its name at once, whatever was
            // believed about them.
            supersede(predecessor, by: signed, now: now)
        }
        var m = existing ?? predecessor ?? Member(record: signed, incarnation: record.incarnation, state: .alive, stateSince: now)
        m.incarnation = dead ? deadAt ?? record.incarnation : record.incarnation
        m.record = signed
        m.state = record.status == .left ? .left : dead ? .dead : .alive
        m.doubtful = false
        if m.state == .alive { suspicions.end(key) }
        if previous != m.state || predecessor != nil {
            m.stateSince = viaSync && !m.state.isActive ? now - tombstoneRelayAge : now
        }
        if existing == nil, predecessor == nil {
            insert(m, rng: &rng)
        } else {
            update(m, previous: previous, force: predecessor != nil, replacing: predecessor?.key)
        }
        if relay { enqueueMembership(.member(signed), about: key, now: now, rng: &rng) }
    }

    /// A newer generation of `old`'s name arrived: `old` gives way to it in its place, and any other generation held
    /// of the name is dropped. A generation that was live elsewhere than the newcomer's address may still run (the
    /// name started twice) and is checked.
    private mutating func supersede(_ old: Member, by newcomer: SignedMemberRecord, now: Instant) {
        for g in table.generations(of: old.name) {
            suspicions.end(g.key)
            if g.state.isActive { checkOlderGeneration(g.record, besides: newcomer.record.address, now: now) }
            if g.key != old.key { remove(g.key) }
            store.forgetOlder(g.key)
        }
    }

    mutating func insert(_ m: Member, rng: inout some RandomNumberGenerator) {
        table.set(m)
        schedule.add(m.name)
        if m.state.isActive {
            // A newcomer joins the current probe round at a random place rather than waiting for the next round.
            round.admit(m.name, rng: &rng)
        }
        out.append(.memberChanged(m.snapshot, previous: nil))
        if m.state.isActive { reportConflict(over: m.name) }
    }

    /// Stores `m` (in the place of `replacing`, a predecessor) and reports the change.
    mutating func update(_ m: Member, previous: MemberState?, force: Bool = false, replacing: MemberKey? = nil) {
        if let replacing { table.replace(replacing, with: m) } else { table.set(m) }
        if previous != m.state || force { out.append(.memberChanged(m.snapshot, previous: previous)) }
        if replacing == nil, m.state.isActive, previous?.isActive == false { reportConflict(over: m.name) }
    }

    mutating func remove(_ key: MemberKey) {
        guard table.removeValue(forKey: key) != nil else { return }
        if table[key.name] == nil { schedule.remove(key.name) }
        suspicions.end(key)
        store.forgetOlder(key)
    }
}
