import Wire

/// Probing (SWIM with Lifeguard's nacks): the round robin's probe and the searches of suspects' clusters, the
/// ping requests carried out for others, and the answers to pings.
extension GossipCore {
    mutating func nextSequence() -> UInt32 {
        sequence &+= 1
        return sequence
    }

    mutating func runProbe(now: Instant, wallClockMillis: UInt64? = nil, rng: inout some RandomNumberGenerator) {
        var i = 0
        while i < probes.count {
            if !probes[i].indirectSent, now >= probes[i].timeoutAt {
                var p = probes[i]
                askForIndirectProbes(&p, rng: &rng)
                probes[i] = p
            }
            guard now >= probes[i].endAt else {
                i += 1
                continue
            }
            // Concluding may start searches, appended behind this one.
            conclude(probes.remove(at: i), now: now, rng: &rng)
        }
        guard !probes.hasRoundProbe, let at = nextProbeAt, now >= at else { return }
        nextProbeAt = now + settings.probeInterval * health.scale
        search.renewBudget()
        let slot = wallClockMillis.map { $0 / UInt64(max(1, settings.probeInterval.components.seconds * 1000
            + settings.probeInterval.components.attoseconds / 1_000_000_000_000_000)) }
        guard let target = nextProbeTarget(slot: slot, rng: &rng) else { return }
        startProbe(of: target, search: false, now: now, rng: &rng)
    }

    /// No direct ack in time: asks k others to try (SWIM), and to say so when they fail too (Lifeguard).
    ///
    /// A search asks no one of the target's own cluster: during the zone failure it looks for, they are likely
    /// gone too, and their silence would count against our own health.
    private mutating func askForIndirectProbes(_ p: inout Probe, rng: inout some RandomNumberGenerator) {
        p.indirectSent = true
        var helpers: [Member] = []
        var excluded: Set<String> = [p.target]
        let avoided = p.isSearch ? table[p.key]?.cluster : nil
        for _ in 0..<settings.indirectChecks {
            guard let h = randomActive(excluding: excluded, aliveOnly: true, outside: avoided, rng: &rng) else { break }
            excluded.insert(h.name)
            helpers.append(h)
        }
        p.expectedNacks = helpers.count
        for h in helpers {
            let request = PingRequest(sequence: p.sequence, source: identity.name, target: p.target,
                                      targetGeneration: p.generation, targetAddress: p.address, wantsNack: true)
            sendWithPiggyback([.pingRequest(request)], to: h.address)
        }
    }

    /// A probe's period ended without an ack: the target is suspect.
    private mutating func conclude(_ p: Probe, now: Instant, rng: inout some RandomNumberGenerator) {
        // Lifeguard: if no helper even said "no answer", the fault is likely ours: slow down. One nack proves we
        // can still talk to the mesh, so the silence is the target's (a dead cluster takes some helpers with it,
        // and must not slow its own detection down).
        // A search is our own extra effort, not a sign of our health: only the round robin's probes count.
        if p.nacks == 0, !p.isSearch { health.adjust(by: 1) }
        // No one answered at all: our suspicion is doubtful, and we may be the one cut off (GossipCore+Doubt).
        let unanswered = wentUnanswered(p)
        if unanswered { noteUnanswered(p, now: now, rng: &rng) }
        if let m = table[p.key], m.state.isActive {
            let accusation = Accusation(kind: .suspect, target: p.target, generation: p.generation,
                                        incarnation: m.incarnation, accuser: identity.name)
            receive(accusation, doubtful: unanswered, now: now, rng: &rng)
        }
    }

    /// Probes `target`: a direct ping, then ping requests at the probe timeout, concluding at the period's end.
    ///
    /// A probe `atOnce` (a search of a suspect's cluster) sends the ping requests with the ping and concludes at
    /// the probe timeout: the same evidence (a direct and `indirectChecks` indirect paths all silent) in half the
    /// time, which is what a search is for. Its helpers' nacks arrive at 0.8 of the timeout, within it.
    mutating func startProbe(of target: Member, search: Bool, atOnce: Bool = false, checksSelf: Bool = false,
                             telling accusation: Accusation? = nil, now: Instant, rng: inout some RandomNumberGenerator) {
        let seq = nextSequence()
        var probe = Probe(target: target.name, generation: target.generation, incarnation: target.incarnation,
                          address: target.address, sequence: seq, timeoutAt: now + settings.probeTimeout * health.scale,
                          endAt: now + settings.probeInterval * health.scale, isSearch: search)
        probe.checksSelf = checksSelf
        if atOnce {
            probe.endAt = probe.timeoutAt
            askForIndirectProbes(&probe, rng: &rng)
        }
        probes.start(probe)
        let ping = Ping(sequence: seq, source: identity.name, target: target.name,
                        targetGeneration: target.generation)
        if target.state == .suspect {
            // Updates sent to a suspect are likely lost; it gets only the ping and its own suspicion (Lifeguard's
            // buddy system: the suspect learns of it from its prober and can refute).
            let ping = GossipMessage.ping(ping)
            let told = GossipMessage.accusation(Accusation(kind: .suspect, target: target.name, generation: target.generation,
                                                           incarnation: target.incarnation, accuser: identity.name))
            out.append(.send([ping, told], to: target.address, bytes: WireEncoding.packetSize(messageSizes: [ping, told].map(WireEncoding.encodedSize(of:)))))
        } else {
            sendWithPiggyback([.ping(ping)] + (accusation.map { [.accusation($0)] } ?? []), to: target.address)
        }
    }

    /// The queued siblings of suspects first (`ClusterSearch`), then the round robin: the ring's turns
    /// (`ProbeSchedule`), or while a name is started twice, whose generations share a place in the ring, the
    /// shuffled rounds that visit each (`ProbeRound`).
    private mutating func nextProbeTarget(slot: UInt64?, rng: inout some RandomNumberGenerator) -> Member? {
        let probes = self.probes
        if let m = search.nextQueued(in: table, isProbing: probes.isProbing) { return m }
        if table.hasOlderGenerations { return round.next(in: table, isProbing: probes.isProbing, rng: &rng) }
        return schedule.next(slot: slot, in: table, isProbing: probes.isProbing)
    }

    /// Probes `count` alive members of the suspect's cluster at once, beside the round robin (`ClusterSearch`).
    mutating func searchSiblings(of suspect: Member, count: Int, now: Instant, rng: inout some RandomNumberGenerator) {
        let cluster = suspect.cluster
        guard !cluster.isEmpty, !hasLeft, !table.isEmpty else { return }
        let probes = self.probes
        for m in ClusterSearch.siblings(in: cluster, of: table, count: count, isProbing: probes.isProbing, rng: &rng) {
            if health.isHealthy, search.budget > 0, self.probes.searches < ClusterSearch.maxSearches {
                _ = search.spend()
                startProbe(of: m, search: true, atOnce: true, now: now, rng: &rng)
            } else {
                search.queue(m.name)
            }
        }
    }

    mutating func onPing(_ ping: Ping, from sender: PeerAddress) {
        // A ping meant for someone else (a predecessor at this address, or another name) gets no answer.
        guard ping.target.isEmpty || ping.target == identity.name else { return }
        guard ping.targetGeneration == 0 || ping.targetGeneration == identity.generation else { return }
        var control: [GossipMessage] = [.ack(Ack(sequence: ping.sequence, source: identity.name))]
        // A member we hold dead is talking to us: tell it, so that it refutes and a healed partition merges. (Of a name
        // started twice, the generation at the sender's address.)
        let source = table.hasOlderGenerations
            ? table.generations(of: ping.source).first { $0.address == sender } ?? table[ping.source] : table[ping.source]
        if let m = source, m.state == .dead {
            control.append(.accusation(Accusation(kind: .dead, target: m.name, generation: m.generation,
                                                  incarnation: m.incarnation, accuser: identity.name)))
        }
        sendWithPiggyback(control, to: sender)
    }

    /// Sends our record straight to up to 64 members after joining, so that a restarted member is alive
    /// everywhere at once in meshes of that size, and seeds the gossip in larger ones.
    mutating func announce(rng: inout some RandomNumberGenerator) {
        let message = GossipMessage.member(selfRecord)
        var targets = table.members.filter(\.state.isActive)
        targets.shuffle(using: &rng)
        for m in targets.prefix(64) { sendAlone(message, to: m.address) }
    }

    /// A member we have never heard of is probing us: its join news missed us, so sync with it once.
    mutating func repairIfUnknown(_ name: String, at sender: PeerAddress, now: Instant) {
        guard !hasLeft, !name.isEmpty, table[name] == nil, name != identity.name else { return }
        guard tombstones.shouldRepair(with: sender, now: now, interval: settings.deadProbeInterval) else { return }
        out.append(.startStateSync(with: sender))
    }

    mutating func onPingRequest(_ request: PingRequest, from sender: PeerAddress, now: Instant) {
        guard request.target != identity.name else { return }
        let seq = nextSequence()
        // Nack a little before the requester's period ends, so that it arrives in time to count.
        let nackAt: Instant? = request.wantsNack ? now + settings.probeTimeout * health.scale * 8 / 10 : nil
        relays.start(Relays.Relay(requester: sender, requesterSequence: request.sequence, target: request.target,
                                  nackAt: nackAt, expiresAt: now + settings.probeInterval * health.scale), sequence: seq)
        let ping = Ping(sequence: seq, source: identity.name, target: request.target, targetGeneration: request.targetGeneration)
        sendWithPiggyback([.ping(ping)], to: request.targetAddress)
    }

    mutating func onAck(_ ack: Ack, now: Instant, rng: inout some RandomNumberGenerator) {
        if !generationChecks.pending.isEmpty, let record = generationChecks.answer(sequence: ack.sequence, from: ack.source) {
            admitOlderGeneration(record, now: now, rng: &rng)
            return
        }
        if probes.answer(sequence: ack.sequence, from: ack.source) {
            health.adjust(by: -1)
            noteAnswered(now: now)
            return
        }
        if let relay = relays.answer(sequence: ack.sequence, from: ack.source) {
            sendWithPiggyback([.ack(Ack(sequence: relay.requesterSequence, source: relay.target))], to: relay.requester)
        }
    }

    mutating func expireRelays(now: Instant) {
        for relay in relays.due(now: now) {
            sendAlone(.nack(Nack(sequence: relay.requesterSequence, source: identity.name)), to: relay.requester)
        }
    }
}
