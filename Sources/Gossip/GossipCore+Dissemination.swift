import Wire

/// Dissemination: digests received and checked into the store (`DigestStore`), news queued (`Dissemination`),
/// piggybacked on probes and acks and pushed in gossip rounds, and the upkeep of tombstones (`Tombstones`).
extension GossipCore {
    /// A digest from another member: stored and passed on when it is newer than the one held of its origin and
    /// verifies; `wallClockMillis` bounds how far in the future it may claim to be issued. `bySync`: it came in a
    /// state-sync frame rather than a datagram.
    mutating func receive(
        _ signed: SignedDigest, bySync: Bool = false, now: Instant, wallClockMillis: UInt64, rng: inout some RandomNumberGenerator
    ) {
        let d = signed.digest
        // Our own digests come only from ourselves; a copy relayed back is old news.
        guard d.origin.name != identity.name else { return }
        guard let (slot, stored) = store.slot(for: d, in: table) else { return }
        if memo.contains(signed) {
            if d.issuedAtMillis > wallClockMillis, d.issuedAtMillis - wallClockMillis > verifier.maxFutureSkewMillis {
                out.append(.recordRejected(.fromTheFuture(origin: d.origin.name, aheadMillis: d.issuedAtMillis - wallClockMillis)))
                return
            }
        } else {
            if let rejection = verifier.verify(signed, stored: stored, nowMillis: wallClockMillis) {
                out.append(.recordRejected(rejection))
                return
            }
            memo.insert(signed)
        }
        store.store(signed, in: slot, table: table)
        out.append(.digestAccepted(signed, missedByGossip: bySync && missedByGossip(signed, wallClockMillis: wallClockMillis)))
        disseminate(signed, now: now, rng: &rng)
    }

    /// Whether gossip should have brought `signed` before the state sync that did: it fits a datagram (larger ones
    /// travel by state sync alone), it was issued after this member's first sync had made it known (what came before
    /// that sync is its catch-up), and the time gossip takes to spread has passed since (a sync landing while gossip is
    /// still on its way is a race, not a miss). Ages are read across two wall clocks: skew moves them.
    private func missedByGossip(_ signed: SignedDigest, wallClockMillis: UInt64) -> Bool {
        guard let joined = firstSyncAtMillis else { return false }
        let spread = UInt64(GossipFormulas.seconds(GossipFormulas.spreadBound(settings: settings, n: table.activeCount + 1)) * 1000)
        let issued = signed.digest.issuedAtMillis
        return issued >= joined + spread && wallClockMillis >= issued + spread && fitsDatagram(.digest(signed))
    }

    /// The largest digest message that is piggybacked; larger ones travel by state sync only.
    private var digestSizeLimit: Int { settings.datagramBudget - 160 }

    /// Whether a digest message is small enough to travel in datagrams (`digestSizeLimit`).
    private func fitsDatagram(_ message: GossipMessage) -> Bool {
        WireEncoding.encodedSize(of: message) <= digestSizeLimit
    }

    mutating func disseminate(_ signed: SignedDigest, now: Instant, rng: inout some RandomNumberGenerator) {
        let message = GossipMessage.digest(signed)
        let size = WireEncoding.encodedSize(of: message)
        if size <= digestSizeLimit {
            dissemination.enqueueDigest(message, key: store.queueKey(of: signed), size: size)
            scheduleGossip(now: now, rng: &rng)
        } else {
            // Too large for a datagram: push it by state sync to a few members, who do the same on acceptance.
            var chosen: Set<String> = []
            for _ in 0..<settings.gossipFanout {
                guard let peer = randomActive(excluding: chosen, rng: &rng) else { break }
                chosen.insert(peer.name)
                out.append(.startStateSync(with: peer.address))
            }
        }
    }

    /// The most gateways a new digest of our own goes to directly. A mesh has one or two; more members without a
    /// cluster than this are a mistake or an attack, and each digest then goes to as many of them drawn at random.
    static let directGatewayLimit = 8

    /// Sends our own digest, when the health it reports changed, straight to the alive and suspect members without a
    /// cluster (the gateways, which build the table from digests) as well as by the epidemic. With memberlist's
    /// retransmit limit a mesh of 7 sends each update 6 times all told, and a simulated gateway missed about one digest
    /// in 2,500 until the next state sync (10 s at `fast`, 30 s at `lan`), keeping a dead endpoint in its table that
    /// long: a scale-to-zero drill once moved in 8.3 s instead of 0.8. Only the origin does it, for changes only (not
    /// the periodic re-issue), to at most `directGatewayLimit` members: whoever slips fake clusterless records into the
    /// mesh (they may be unsigned) gets a few datagrams per health change, not a stream. A digest too large for a
    /// datagram travels by state sync (`disseminate`).
    mutating func sendToGateways(_ signed: SignedDigest, rng: inout some RandomNumberGenerator) {
        var gateways = table.aliveSlots(of: "").map { table.member(atSlot: $0).address }
        // A suspect gateway too: most often it is alive (an ack lost, a pause), and its table needs the news the
        // more for it, since gossip rounds pass suspects by.
        for key in suspicions.keys {
            if let m = table[key.name], m.generation == key.generation, m.cluster.isEmpty, m.state == .suspect {
                gateways.append(m.address)
            }
        }
        guard !gateways.isEmpty else { return }
        let message = GossipMessage.digest(signed)
        guard fitsDatagram(message) else { return }
        let count = min(gateways.count, Self.directGatewayLimit)
        if gateways.count > count {
            for i in 0..<count { gateways.swapAt(i, Int.random(in: i..<gateways.count, using: &rng)) }
        }
        for address in gateways.prefix(count) {
            sendAlone(message, to: address)
        }
    }

    mutating func enqueueMembership(_ message: GossipMessage, about name: String, now: Instant, rng: inout some RandomNumberGenerator) {
        dissemination.enqueueMembership(message, key: name)
        scheduleGossip(now: now, rng: &rng)
    }

    /// Queues an update about the member `key`. News of an older generation held beside a newer one (a name started
    /// twice) has a queue key of its own, so that news of one generation never displaces news of the other.
    mutating func enqueueMembership(_ message: GossipMessage, about key: MemberKey, now: Instant, rng: inout some RandomNumberGenerator) {
        if table.hasOlderGenerations, let newest = table[key.name], newest.generation != key.generation {
            enqueueMembership(message, about: "\(key.name)#\(key.generation)", now: now, rng: &rng)
        } else {
            enqueueMembership(message, about: key.name, now: now, rng: &rng)
        }
    }

    mutating func scheduleGossip(now: Instant, rng: inout some RandomNumberGenerator) {
        if nextGossipAt == nil { nextGossipAt = now + jitter(settings.gossipInterval, rng: &rng) }
    }

    /// Packs `control` and as many pending updates as fit into one datagram and emits it (`Dissemination`).
    mutating func sendWithPiggyback(_ control: [GossipMessage], to target: PeerAddress) {
        let used = control.reduce(0) { $0 + WireEncoding.encodedSize(of: $1) }
        var fills = [TransmitQueue.Fill(messages: control, bytes: used)]
        dissemination.piggyback(into: &fills, budget: newsBudget, limit: retransmitLimit)
        send(fills, to: target)
    }

    mutating func gossipRound(rng: inout some RandomNumberGenerator) {
        var chosen: Set<String> = []
        for _ in 0..<settings.gossipFanout {
            guard !dissemination.isEmpty else { return }
            // Suspects are told of their suspicion directly; gossip goes where it is most likely to travel on.
            guard let peer = randomActive(excluding: chosen, aliveOnly: true, rng: &rng) else { return }
            chosen.insert(peer.name)
            // Up to `gossipBurst` datagrams, each update in one of them: all that waits when it fits.
            var fills = Array(repeating: TransmitQueue.Fill(), count: max(1, settings.gossipBurst))
            dissemination.piggyback(into: &fills, budget: newsBudget, limit: retransmitLimit)
            send(fills, to: peer.address)
        }
    }

    /// The bytes of a datagram's messages: the budget less the packet's header.
    private var newsBudget: Int { settings.datagramBudget - WireEncoding.packetHeaderSize }

    private var retransmitLimit: Int { GossipFormulas.retransmitLimit(mult: settings.retransmitMult, n: table.activeCount + 1) }

    /// Emits each datagram of `fills` that holds a message.
    private mutating func send(_ fills: [TransmitQueue.Fill], to target: PeerAddress) {
        for fill in fills where !fill.messages.isEmpty {
            out.append(.send(fill.messages, to: target,
                             bytes: WireEncoding.packetHeaderSize(messageCount: fill.messages.count) + fill.bytes))
        }
    }

    /// A random alive or suspect member not in `excluded` nor of cluster `outside`, found by sampling (cheap in
    /// large meshes).
    func randomActive(
        excluding excluded: Set<String>, aliveOnly: Bool = false, outside cluster: String? = nil, rng: inout some RandomNumberGenerator
    ) -> Member? {
        guard table.activeCount > excluded.count else { return nil }
        func fits(_ m: Member) -> Bool {
            (aliveOnly ? m.state == .alive : m.state.isActive) && !excluded.contains(m.name) && m.cluster != cluster
        }
        for _ in 0..<32 {
            if let m = table.randomMember(using: &rng), fits(m) { return m }
        }
        // Sampling failed (few active among many tombstones): fall back to a scan.
        return table.members.filter(fits).randomElement(using: &rng)
    }

    /// Probes some dead members again (a healed partition) and drops old tombstones.
    mutating func maintain(now: Instant, probes: Int, rng: inout some RandomNumberGenerator) {
        tombstones.forgetRepairs(olderThan: settings.deadProbeInterval, now: now)
        if !generationChecks.isEmpty { generationChecks.forget(olderThan: settings.tombstoneTime, now: now) }
        returned.forget(olderThan: staleViewWindow, now: now)
        guard table.tombstoneCount > 0 else { return }
        var sweep = Tombstones.sweep(table, now: now, tombstoneTime: settings.tombstoneTime)
        for key in sweep.expired { remove(key) }
        for key in Tombstones.excess(in: table, maximum: settings.maxTombstones) { remove(key) }
        sweep.dead.shuffle(using: &rng)
        for m in sweep.dead.prefix(probes) {
            // The ping carries the verdict: a live member refutes at once, and sends its new record straight back.
            let ping = Ping(sequence: nextSequence(), source: identity.name, target: m.name, targetGeneration: m.generation)
            let verdict = Accusation(kind: .dead, target: m.name, generation: m.generation,
                                     incarnation: m.incarnation, accuser: identity.name)
            sendWithPiggyback([.ping(ping), .accusation(verdict)], to: m.address)
        }
    }
}
