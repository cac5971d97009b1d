import Wire

/// Doubt: when no one answers our probes, not even a helper's nack, the fault is more likely ours than the
/// members' (Lifeguard's reading of a missing nack). A gateway whose gossip is cut suspects the members it probes one
/// by one, cluster by cluster; taken as evidence, that would move one cluster's traffic, then the other's, before
/// the gateway saw that it was alone. So such a suspicion, and the death its timer brings, is doubtful
/// (`Member.doubtful`): the protocol runs as ever, and the table leaves the member where it stood. A probe no one
/// answered is checked at once against another member, and two in a row make this member cut off
/// (`GossipEvent.cutOff`), which a gateway takes as isolated: it fails static.
///
/// A doubt ends with another member's word (a confirmation, a verdict, a record), with the member's refutation, or,
/// for a death, once this member has been back in touch for `doubtWindow`: time for a live member to hear of its
/// death and refute, after which what is left is a member that really died while we were cut off.
extension GossipCore {
    /// Whether the probe `p`, ended without an ack, went unanswered by everyone: no helper's nack though helpers
    /// were asked (or none was left alive to ask, every other member suspect), or we are cut off already. In a
    /// mesh of two there is no telling.
    func wentUnanswered(_ p: Probe) -> Bool {
        p.nacks == 0 && (p.expectedNacks > 0 || table.activeCount > 1 || health.isCutOff)
    }

    /// Counts a round-robin probe (or a check of ourselves) that no one answered: the first is checked at once, the
    /// second in a row makes us cut off.
    mutating func noteUnanswered(_ p: Probe, now: Instant, rng: inout some RandomNumberGenerator) {
        guard !p.isSearch || p.checksSelf else { return }
        if health.noteUnanswered() {
            out.append(.cutOff(true))
        } else if !health.isCutOff {
            checkSelf(after: p, now: now, rng: &rng)
        }
    }

    /// Our round robin's probe of `failed` went unanswered by everyone: probes another member at once, of another
    /// cluster where there is one, with its helpers asked at once too. Waiting for the next period instead,
    /// stretched by Lifeguard, would let the first doubtful suspicion run out (its maximum is three periods in every
    /// profile) before we knew we were cut off. Costs a probe only after one that no one answered.
    private mutating func checkSelf(after failed: Probe, now: Instant, rng: inout some RandomNumberGenerator) {
        let probes = self.probes
        let cluster = table[failed.key]?.cluster
        var excluded: Set<String> = [failed.target]
        for _ in 0..<2 {
            guard let m = randomActive(excluding: excluded, aliveOnly: true, outside: cluster, rng: &rng)
                ?? randomActive(excluding: excluded, aliveOnly: true, rng: &rng) else { return }
            if !probes.isProbing(m.key) {
                startProbe(of: m, search: true, atOnce: true, checksSelf: true, now: now, rng: &rng)
                return
            }
            excluded.insert(m.name)
        }
    }

    /// An ack or a helper's nack answered one of our probes: we can hear the mesh and it can hear us. Back in touch
    /// after being cut off, the members that died on our doubtful word are probed a few at a time every period
    /// (the ping carries the verdict, so a live one refutes at once), and maintenance, which ends the doubts
    /// that outlast `doubtWindow`, runs every period meanwhile.
    mutating func noteAnswered(now: Instant) {
        guard health.noteAnswered() else { return }
        inTouchSince = now
        out.append(.cutOff(false))
        tombstones.startBurst(until: now + doubtWindow + settings.probeInterval)
        if let at = nextMaintenanceAt, at > now + settings.probeInterval { nextMaintenanceAt = now + settings.probeInterval }
    }

    /// How long a death on our doubtful word stays doubtful once we are in touch: a suspicion's longest run and two
    /// periods (the window in which a returned member's word is doubted too), so that a live member hears of its
    /// death from our dead-member probes or its own probes of us, and refutes.
    var doubtWindow: Duration { staleViewWindow }

    /// Another member declared `key` dead too: if it was dead on our doubtful word, it no longer is.
    mutating func confirmDeath(of key: MemberKey, incarnation: UInt64) {
        guard var m = table[key], m.state == .dead, m.doubtful, incarnation >= m.incarnation else { return }
        m.doubtful = false
        update(m, previous: m.state, force: true)
    }

    /// Ends the doubt on deaths that have run `doubtWindow` while we were in touch (see the type's comment). Runs
    /// with maintenance, and scans the table only while a doubt may be held.
    mutating func endDoubts(now: Instant) {
        guard mayHoldDoubts, !health.isCutOff else { return }
        let window = doubtWindow
        var remaining = false
        for var m in table.members where m.doubtful {
            let since = max(m.stateSince, inTouchSince ?? m.stateSince)
            guard m.state == .dead, now - since >= window else {
                remaining = true
                continue
            }
            m.doubtful = false
            update(m, previous: m.state, force: true)
        }
        mayHoldDoubts = remaining
    }
}
