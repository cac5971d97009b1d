import Wire

/// Suspicion (SWIM with Lifeguard's timers): accusations received, suspicions confirmed, nudged and ended, and
/// this member's refutation of its own.
extension GossipCore {
    mutating func expireSuspicions(now: Instant, rng: inout some RandomNumberGenerator) {
        for key in suspicions.due(now: now) {
            guard let s = suspicions[key] else { continue }
            let name = key.name
            guard now >= s.deadline else {
                // A suspicion of a member no longer held would never come up again.
                guard let m = table[key] else {
                    suspicions.end(key)
                    continue
                }
                if now >= s.nextNudgeAt {
                    suspicions.nudged(key, next: now + settings.probeInterval)
                    sendAlone(.accusation(Accusation(kind: .suspect, target: name, generation: m.generation,
                                                     incarnation: s.incarnation, accuser: identity.name)), to: m.address)
                }
                continue
            }
            suspicions.end(key)
            guard let m = table[key], m.state == .suspect else { continue }
            let accusation = Accusation(kind: .dead, target: name, generation: m.generation,
                                        incarnation: m.incarnation, accuser: identity.name)
            receive(accusation, now: now, rng: &rng)
        }
    }

    mutating func refute(accusedIncarnation: UInt64, now: Instant, rng: inout some RandomNumberGenerator) {
        guard !hasLeft else { return }
        incarnation = max(incarnation, accusedIncarnation) + 1
        health.adjust(by: 1)
        selfRecord = Self.sign(MemberRecord(identity: identity, address: address, incarnation: incarnation, status: .alive), signer)
        enqueueMembership(.member(selfRecord), about: identity.name, now: now, rng: &rng)
    }

    /// Applies `accusation`. `doubtful`: our own suspicion from a probe that no one answered (`Member.doubtful`).
    mutating func receive(_ accusation: Accusation, doubtful: Bool = false, now: Instant, rng: inout some RandomNumberGenerator) {
        if accusation.target == identity.name {
            if accusation.generation == identity.generation, accusation.incarnation >= incarnation {
                refute(accusedIncarnation: accusation.incarnation, now: now, rng: &rng)
            } else if accusation.kind == .dead, accusation.generation != identity.generation {
                // The other process under our name was declared dead: no longer a conflict (reported again if it
                // turns out to run after all).
                selfConflicts[accusation.generation] = nil
            }
            return
        }
        // Accusations bind to the exact generation: a predecessor's rumours never touch a restarted member.
        let key = MemberKey(name: accusation.target, generation: accusation.generation)
        // Most accusations a member hears are copies of news it has (a cluster failing sends each one about 16 times
        // to everyone): those are told apart by the member's standing, read in place, before anything is copied.
        guard let standing = table.standing(of: key), accusation.incarnation >= standing.incarnation,
              standing.state.isActive else {
            if mayHoldDoubts, accusation.kind == .dead, accusation.accuser != identity.name {
                confirmDeath(of: key, incarnation: accusation.incarnation)
            }
            return
        }
        // Most of the rest are copies of a suspicion or confirmation already counted. Those change nothing whoever
        // made them (a stale view's word about a member held suspect is not acted on either, `doubt`), so they are
        // told apart here without looking the accuser up or copying the suspect's record.
        if accusation.kind == .suspect, standing.state == .suspect, accusation.incarnation == standing.incarnation,
           !standing.doubtful, suspicions.hasCounted(key, accuser: accusation.accuser) {
            return
        }
        if returned.isStale(accuser: accusation.accuser, state: table.state(ofName: accusation.accuser), now: now, window: staleViewWindow) {
            if let m = table[key] { doubt(accusation, about: m, now: now, rng: &rng) }
            return
        }
        if accusation.kind == .suspect, standing.state == .suspect, accusation.incarnation == standing.incarnation,
           let confirmed = suspicions.confirm(key, by: accusation.accuser) {
            // An independent confirmation shortens the suspicion (Lifeguard) and is worth passing on.
            if confirmed { enqueueMembership(.accusation(accusation), about: key, now: now, rng: &rng) }
            // Another member's word, or a probe of ours that someone answered: no longer a doubtful suspicion.
            if !doubtful, var m = table[key], m.doubtful {
                m.doubtful = false
                update(m, previous: m.state, force: true)
            }
            return
        }
        guard var m = table[key] else { return }
        switch accusation.kind {
        case .suspect:
            // (A confirmation of the suspicion held was taken above.)
            let previous = m.state
            m.state = .suspect
            m.doubtful = doubtful && accusation.accuser == identity.name
            if m.doubtful { mayHoldDoubts = true }
            m.incarnation = accusation.incarnation
            m.stateSince = now
            suspicions.set(Suspicion(of: table.activeCount + 1, at: now, incarnation: accusation.incarnation,
                                     accuser: accusation.accuser, settings: settings), of: m.key)
            update(m, previous: previous)
            if previous == .alive {
                searchSiblings(of: m, count: accusation.accuser == identity.name ? settings.indirectChecks : 1, now: now, rng: &rng)
                if accusation.accuser != identity.name { confirmByProbe(m, now: now, rng: &rng) }
            }
            enqueueMembership(.accusation(accusation), about: m.key, now: now, rng: &rng)
            // Every suspecter tells the suspect directly; a live one answers each with its refutation.
            sendAlone(.accusation(accusation), to: m.address)
        case .dead:
            let previous = m.state
            m.state = .dead
            // Our own timer on a doubtful suspicion keeps the doubt; another member's verdict ends it.
            m.doubtful = m.doubtful && previous == .suspect && accusation.accuser == identity.name
            m.incarnation = accusation.incarnation
            m.stateSince = now
            suspicions.end(m.key)
            update(m, previous: previous)
            enqueueMembership(.accusation(accusation), about: m.key, now: now, rng: &rng)
        }
    }

    /// How long a returned member's accusations are doubted, at the current mesh size.
    var staleViewWindow: Duration { GossipFormulas.staleViewWindow(settings: settings, n: table.activeCount + 1) }

    /// An accusation from a view we know to be stale (its accuser is not alive in ours, or came back lately) about
    /// a member we hold active: neither applied nor relayed, wherever the copy came from. If we see the accused
    /// alive we probe it at once, out of turn like a search, and hand it the accusation: a live member refutes, and
    /// its higher incarnation overrides the rumour wherever it went; a dead one misses the probe, and we accuse it
    /// ourselves, so a failure is still found. The searches' budget bounds the probes a flood of rumours starts.
    private mutating func doubt(_ accusation: Accusation, about m: Member, now: Instant, rng: inout some RandomNumberGenerator) {
        guard m.state == .alive, !hasLeft, !probes.isProbing(m.key), search.spend() else { return }
        startProbe(of: m, search: true, telling: accusation, now: now, rng: &rng)
    }

    /// Probes a suspect whose suspicion we heard from another member, with probability `2K / (N − 2)`, so that
    /// about 2K members do so in all; not in a mesh of `2K + 2` or fewer, where the round robin visits every member
    /// every few periods anyway, and where every hearer's probe would make a lost refutation likelier to be
    /// overtaken by confirmations (measured at 10% loss in a mesh of 7: 9 false deaths in 20 × 600 s, against 2).
    ///
    /// Lifeguard shortens a suspicion with each independent confirmation, a member whose own probe of the suspect
    /// failed too. In a large mesh the round robin brings about one such probe a period, so a suspicion of a dead
    /// member ran most of its maximum (4.5 s at N = 1,000) and a victim first probed late was declared dead late.
    /// These probes are the same evidence (a direct and `indirectChecks` indirect paths, all silent), sent at once
    /// and concluded at the probe timeout; a live suspect answers them, and each also tells it of its suspicion.
    /// The suspicion formulas stay memberlist's: only the confirmations come sooner.
    private mutating func confirmByProbe(_ m: Member, now: Instant, rng: inout some RandomNumberGenerator) {
        let k = settings.suspicionConfirmations
        let others = table.activeCount - 1
        guard k > 0, others > 0, health.isHealthy, !hasLeft, !probes.isProbing(m.key) else { return }
        let p = Double(2 * k) / Double(others)
        guard p < 1, Double.random(in: 0..<1, using: &rng) < p, search.spend() else { return }
        startProbe(of: m, search: true, atOnce: true, now: now, rng: &rng)
    }
}
