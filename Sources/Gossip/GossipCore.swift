import MeshCrypto
import Wire

/// The SWIM/Lifeguard protocol of one member as a value: every input is a method that takes `now` and a random
/// generator and returns directives; it performs no I/O, reads no clock and draws no global randomness.
///
/// A shell (the NIO service, or the simulation) feeds it datagrams, state-sync frames and ticks, and carries out
/// what it returns. Timers are data: the instants at which the next probe, gossip round, sync or suspicion expiry
/// is due are stored here and checked on every call.
///
/// The state is held in value types, one concept each, that keep their own invariants: the member table
/// (`MemberTable`), suspicions (`Suspicions`), local health (`LocalHealth`), the round robin (`ProbeSchedule`,
/// `ProbeRound`), probes and relays under way (`ProbesInFlight`, `Relays`), the cluster search (`ClusterSearch`), the digest store
/// (`DigestStore`), dissemination (`Dissemination`), seeds (`SeedRotation`) and tombstones (`Tombstones`). The
/// core ties them together: this file holds its inputs and timers, and one file per concept (`GossipCore+…`) the
/// steps that concern it.
public struct GossipCore: Sendable {
    typealias Instant = ContinuousClock.Instant

    /// The core's settings.
    public let settings: GossipSettings
    /// This member's identity.
    public let identity: MemberIdentity
    /// This member's advertised gossip address.
    public let address: PeerAddress
    /// This member's current incarnation; raised to refute suspicion.
    public internal(set) var incarnation: UInt64 = 0
    /// Lifeguard's local health score: 0 is healthy; timeouts and intervals scale by `score + 1`.
    public var localHealthScore: Int { health.score }
    /// Whether this member's last probes went unanswered by everyone, helpers included: it is likely cut off from
    /// the mesh, and its own suspicions are likely wrong (`GossipEvent.cutOff`).
    public var isCutOff: Bool { health.isCutOff }
    /// Whether `leave` was called.
    public internal(set) var hasLeft = false

    let signer: (any MessageSigner)?
    let verifier: RecordVerifier
    let memo: VerificationMemo
    var selfRecord: SignedMemberRecord

    var table = MemberTable()
    var suspicions = Suspicions()
    var health: LocalHealth
    var round = ProbeRound()
    var schedule: ProbeSchedule
    var search = ClusterSearch()
    var probes = ProbesInFlight()
    var relays = Relays()
    var sequence: UInt32 = 0
    var dissemination: Dissemination
    var store = DigestStore()
    var drainStore = DrainStore()
    var seeds = SeedRotation()
    var tombstones = Tombstones()
    /// Members back from a partition or a pause lately, whose accusations are doubted (`doubt`).
    var returned = ReturnedMembers()
    /// Set by `join` until the first state sync has told us whom to announce ourselves to.
    var announcePending = false
    /// The wall clock at the first state-sync frame merged: digests issued before it could not reach this member by
    /// gossip, and come by that sync as a matter of course.
    var firstSyncAtMillis: UInt64?
    /// Older generations of a name being pinged to tell a restart from a name started twice, and those found gone.
    var generationChecks: GenerationChecks
    /// Other live processes found using this member's own name, by generation (each reported once).
    var selfConflicts: [UInt64: MemberSnapshot] = [:]
    /// When this member last re-asserted itself against a newer namesake: at most once a dead-probe interval.
    var lastReassertAt: Instant?

    var started = false
    var nextProbeAt: Instant?
    var nextGossipAt: Instant?
    var nextSyncAt: Instant?
    var nextMaintenanceAt: Instant?
    var nextSeedSyncAt: Instant?
    var nextLonelySyncAt: Instant?
    /// When this member was last found back in touch after being cut off (nil: never cut off).
    var inTouchSince: Instant?
    /// Whether some member may be suspect or dead on a doubtful word of ours (`GossipCore+Doubt`): then maintenance
    /// looks for doubts to end.
    var mayHoldDoubts = false
    /// The directives of the input under way, handed over by `finish`.
    var out: [GossipDirective] = []

    /// Creates the core of a member that has not joined yet.
    ///
    /// - Parameters:
    ///   - identity: name, cluster, zone and this start's generation.
    ///   - address: the gossip address others reach this member at.
    ///   - signer: the cluster key that signs this member's alive and left records; nil for a clusterless gateway.
    ///   - verifier: checks every received digest and member record against the trust roster.
    ///   - memo: remembers verified records; may be shared between cores (it only saves work).
    public init(
        identity: MemberIdentity, address: PeerAddress, settings: GossipSettings = GossipSettings(),
        signer: (any MessageSigner)?, verifier: RecordVerifier, memo: VerificationMemo = VerificationMemo()
    ) {
        self.identity = identity
        self.address = address
        self.settings = settings
        self.signer = signer
        self.verifier = verifier
        self.memo = memo
        self.health = LocalHealth(maximum: settings.maxLocalHealth)
        self.schedule = ProbeSchedule(own: identity.name)
        self.dissemination = Dissemination(capacity: settings.maxQueuedUpdates, membershipShare: settings.membershipShare)
        self.generationChecks = GenerationChecks(maxSilent: settings.maxTombstones)
        self.selfRecord = Self.sign(MemberRecord(identity: identity, address: address, incarnation: 0, status: .alive), signer)
    }

    static func sign(_ record: MemberRecord, _ signer: (any MessageSigner)?) -> SignedMemberRecord {
        if let signer {
            return SignedMemberRecord(record: record, keyID: signer.keyID, signature: signer.sign(WireEncoding.signedBytes(of: record)))
        }
        return SignedMemberRecord(record: record, keyID: KeyID(rawValue: 0), signature: [])
    }

    /// Searches under way at once, and started in one probe period, at most (`ClusterSearch`).
    public static let maxSearches = ClusterSearch.maxSearches

    // MARK: Read API

    /// Every other member known, tombstones included, sorted by name (and generation, for a name started twice).
    public var members: [MemberSnapshot] {
        table.members.map(\.snapshot).sorted { ($0.name, $0.identity.generation) < ($1.name, $1.identity.generation) }
    }

    /// Every generation of `name` held, newest first: one, or two while the name is started twice.
    public func members(named name: String) -> [MemberSnapshot] { table.generations(of: name).map(\.snapshot) }

    /// This member as others should see it.
    public var selfSnapshot: MemberSnapshot {
        MemberSnapshot(identity: identity, address: address, state: hasLeft ? .left : .alive, incarnation: incarnation)
    }

    /// The member called `name`, if known: its newest generation.
    public func member(named name: String) -> MemberSnapshot? { table[name]?.snapshot }

    /// The newest verified digest of every origin, sorted by origin name; for a name started twice, the newest of
    /// each generation held (oldest first), so that each live one vouches with its own.
    public var digests: [SignedDigest] { store.all }

    /// The newest verified digest from `origin` (of its newest generation).
    public func digest(from origin: String) -> SignedDigest? { store[origin] }

    /// Other members currently alive or suspect.
    public var activeMemberCount: Int { table.activeCount }

    /// This member's newest signed record.
    public var ownRecord: SignedMemberRecord { selfRecord }

    // MARK: Inputs

    /// Starts the protocol and opens a state sync with up to three of `seeds` (addresses already resolved).
    public mutating func join(
        seeds: [PeerAddress], now: ContinuousClock.Instant, rng: inout some RandomNumberGenerator
    ) -> [GossipDirective] {
        start(now: now, rng: &rng)
        self.seeds.set(seeds, own: address)
        // A seed name may stand for every pod of a headless Service: a few random ones are enough to join
        // (one round trip each brings the whole membership), and spare the others a thundering herd.
        for _ in 0..<min(3, self.seeds.seeds.count) { syncWithNextSeed(now: now, rng: &rng) }
        if !self.seeds.isEmpty {
            // Announce ourselves too: the seed relays our record, but a restarted member must reach everyone fast.
            enqueueMembership(.member(selfRecord), about: identity.name, now: now, rng: &rng)
            announcePending = true
        }
        // Members that joined while our own join was under way are caught by one early sync with a random member.
        if !self.seeds.isEmpty { nextSyncAt = now + settings.probeInterval * 4 + jitter(settings.probeInterval * 4, rng: &rng) }
        return finish(now: now)
    }

    /// `join(seeds:now:rng:)` for shells that still pass the wall clock, which the join never needed.
    public mutating func join(
        seeds: [PeerAddress], now: ContinuousClock.Instant, wallClockMillis: UInt64, rng: inout some RandomNumberGenerator
    ) -> [GossipDirective] {
        join(seeds: seeds, now: now, rng: &rng)
    }

    /// Replaces the seed addresses (the shell re-resolves DNS seeds now and then).
    public mutating func setSeeds(_ seeds: [PeerAddress]) {
        _ = self.seeds.replace(with: seeds, own: address)
    }

    /// Runs whatever timers are due: probes, indirect probes, suspicion expiry, gossip rounds, syncs. Without the
    /// wall clock, the probe round robin counts its turns locally (`ProbeSchedule`).
    public mutating func onTick(now: ContinuousClock.Instant, rng: inout some RandomNumberGenerator) -> [GossipDirective] {
        tick(now: now, wallClockMillis: nil, rng: &rng)
    }

    private mutating func tick(now: Instant, wallClockMillis: UInt64?, rng: inout some RandomNumberGenerator) -> [GossipDirective] {
        start(now: now, rng: &rng)
        if !hasLeft {
            runProbe(now: now, wallClockMillis: wallClockMillis, rng: &rng)
            expireSuspicions(now: now, rng: &rng)
            if !generationChecks.pending.isEmpty { expireGenerationChecks(now: now) }
            if table.activeCount > 0 {
                seeds.noteCompany()
            } else if let at = nextLonelySyncAt, now >= at, !seeds.isEmpty {
                syncWithNextSeed(now: now, rng: &rng)
            }
            if let at = nextSyncAt, now >= at {
                if let peer = randomActive(excluding: [], rng: &rng) {
                    out.append(.startStateSync(with: peer.address))
                }
                nextSyncAt = now + settings.syncInterval * GossipFormulas.pushPullScale(n: table.activeCount + 1)
            }
            if let at = nextSeedSyncAt, now >= at {
                if let seed = seeds.seeds.randomElement(using: &rng) { out.append(.startStateSync(with: seed)) }
                nextSeedSyncAt = now + settings.seedSyncInterval
            }
            if let at = nextMaintenanceAt, now >= at {
                let bursting = tombstones.isBursting(at: now)
                maintain(now: now, probes: bursting ? settings.indirectChecks : 1, rng: &rng)
                endDoubts(now: now)
                nextMaintenanceAt = now + (bursting ? settings.probeInterval : settings.deadProbeInterval)
            }
        }
        expireRelays(now: now)
        if let at = nextGossipAt, now >= at {
            gossipRound(rng: &rng)
            nextGossipAt = dissemination.isEmpty ? nil : now + settings.gossipInterval
        }
        return finish(now: now)
    }

    /// `onTick(now:rng:)` with the wall clock, which aligns the probe round robin across the mesh: members take
    /// turns at probing each member, one a period (`ProbeSchedule`).
    public mutating func onTick(
        now: ContinuousClock.Instant, wallClockMillis: UInt64, rng: inout some RandomNumberGenerator
    ) -> [GossipDirective] {
        tick(now: now, wallClockMillis: wallClockMillis, rng: &rng)
    }

    /// Handles one received datagram's messages. `wallClockMillis` bounds how far in the future a digest may claim
    /// to be issued.
    public mutating func onPacket(
        _ messages: [GossipMessage], from sender: PeerAddress, now: ContinuousClock.Instant, wallClockMillis: UInt64,
        rng: inout some RandomNumberGenerator
    ) -> [GossipDirective] {
        start(now: now, rng: &rng)
        var accusedHere = false
        // State first, so that an ack sent below already carries any refutation it provoked.
        for message in messages {
            switch message {
            case .member(let record): receive(record, relay: true, now: now, rng: &rng)
            case .accusation(let accusation):
                if accusation.target == identity.name, accusation.generation <= identity.generation { accusedHere = true }
                receive(accusation, now: now, rng: &rng)
            case .digest(let digest): receive(digest, now: now, wallClockMillis: wallClockMillis, rng: &rng)
            case .drain(let drain): receive(drain, now: now, wallClockMillis: wallClockMillis, rng: &rng)
            default: break
            }
        }
        for message in messages {
            switch message {
            case .ping(let ping):
                onPing(ping, from: sender)
                repairIfUnknown(ping.source, at: sender, now: now)
            case .pingRequest(let request): onPingRequest(request, from: sender, now: now)
            case .ack(let ack): onAck(ack, now: now, rng: &rng)
            case .nack(let nack): if probes.noteNack(sequence: nack.sequence) { noteAnswered(now: now) }
            default: break
            }
        }
        if accusedHere, !hasLeft {
            // Whoever holds a stale accusation (older incarnation or a predecessor's generation) gets our newest
            // record straight back: refutation then needs no luck with gossip.
            sendAlone(.member(selfRecord), to: sender)
        }
        return finish(now: now)
    }

    /// Stores and disseminates this member's own newest signed digest.
    public mutating func onLocalDigest(
        _ digest: SignedDigest, now: ContinuousClock.Instant, rng: inout some RandomNumberGenerator
    ) -> [GossipDirective] {
        start(now: now, rng: &rng)
        let previous = store[identity.name]
        guard store.storeOwn(digest) else { return finish(now: now) }
        memo.insert(digest)
        out.append(.digestAccepted(digest, missedByGossip: false))
        disseminate(digest, now: now, rng: &rng)
        // A re-issue that reports the same health (the periodic refresh) is no news to hurry.
        if previous?.digest.endpoints != digest.digest.endpoints { sendToGateways(digest, rng: &rng) }
        return finish(now: now)
    }

    /// Announces a graceful departure: a signed left record, pushed at once to several members.
    public mutating func leave(now: ContinuousClock.Instant, rng: inout some RandomNumberGenerator) -> [GossipDirective] {
        guard !hasLeft else { return [] }
        hasLeft = true
        incarnation += 1
        selfRecord = Self.sign(MemberRecord(identity: identity, address: address, incarnation: incarnation, status: .left), signer)
        let message = GossipMessage.member(selfRecord)
        dissemination.enqueueMembership(message, key: identity.name)
        var chosen: Set<String> = []
        var targets: [PeerAddress] = []
        for _ in 0..<(2 * settings.gossipFanout) {
            guard let peer = randomActive(excluding: chosen, rng: &rng) else { break }
            chosen.insert(peer.name)
            targets.append(peer.address)
        }
        for target in targets { sendAlone(message, to: target) }
        probes.removeAll()
        scheduleGossip(now: now, rng: &rng)
        return finish(now: now)
    }

    /// The shell is shedding load (its inbound filter dropped datagrams over a budget, or its backlog was full):
    /// Lifeguard's local health score rises by one, so this member stretches its probe timeouts and periods, the
    /// same as when its own probes go unanswered. Under a flood the acks it misses are likely its own fault, and it
    /// should slow down rather than accuse members that are fine. The shell calls this at most twice a probe
    /// interval while the load lasts; answered probes lower the score again as usual.
    public mutating func onLocalOverload(now: ContinuousClock.Instant) {
        _ = now
        health.adjust(by: 1)
    }

    // MARK: State sync

    /// The first frame of a state sync this member opens: its summary and its own record.
    public func stateSyncRequest() -> [GossipMessage] {
        // Drain orders are few (at most `DrainRules.capacity`) and have no summary entry: each side sends all it holds.
        [.syncSummary(summary(wantsReply: true)), .member(selfRecord)] + drainStore.all.map(GossipMessage.drain)
    }

    /// Merges a state-sync frame and returns what to write back on the same connection (empty: nothing).
    ///
    /// A frame with a summary that wants a reply gets this member's summary and every record the peer lacks; a
    /// summary without that wish (the answer to our request) gets only the records the peer lacks.
    public mutating func onStateSync(
        _ messages: [GossipMessage], from sender: PeerAddress, now: ContinuousClock.Instant, wallClockMillis: UInt64,
        rng: inout some RandomNumberGenerator
    ) -> (reply: [GossipMessage], directives: [GossipDirective]) {
        start(now: now, rng: &rng)
        if firstSyncAtMillis == nil { firstSyncAtMillis = wallClockMillis }
        var peerSummary: SyncSummary?
        for case .syncSummary(let s) in messages { peerSummary = s }
        let peerName = peerSummary?.sender
        table.reserveCapacity(forAdding: messages.count)
        // Tombstones travel as the dead member's own record and the verdict on it: taken together, so that a member
        // never known is stored dead at once rather than alive for an instant.
        var verdicts: [MemberKey: UInt64] = [:]
        for case .accusation(let a) in messages where a.kind == .dead {
            let key = MemberKey(name: a.target, generation: a.generation)
            verdicts[key] = max(verdicts[key] ?? 0, a.incarnation)
        }
        for message in messages {
            switch message {
            case .member(let record):
                // Records about the peer itself are news worth spreading (a joiner); the rest only repair our view.
                let key = MemberKey(name: record.name, generation: record.generation)
                receive(record, relay: record.name == peerName, deadAt: verdicts.isEmpty ? nil : verdicts[key],
                        viaSync: true, now: now, rng: &rng)
            case .accusation(let accusation): receive(accusation, now: now, rng: &rng)
            case .digest(let digest): receive(digest, bySync: true, now: now, wallClockMillis: wallClockMillis, rng: &rng)
            case .drain(let drain): receive(drain, now: now, wallClockMillis: wallClockMillis, rng: &rng)
            default: break
            }
        }
        if announcePending, table.activeCount > 0 {
            announcePending = false
            announce(rng: &rng)
        }
        var reply: [GossipMessage] = []
        if let peerSummary {
            if peerSummary.wantsReply { reply.append(.syncSummary(summary(wantsReply: false))) }
            reply += recordsLacking(in: peerSummary, now: now, rng: &rng)
            if peerSummary.wantsReply { reply += drainStore.all.map(GossipMessage.drain) }
        }
        let directives = finish(now: now)
        return (reply, directives)
    }

    func summary(wantsReply: Bool) -> SyncSummary {
        let own = SyncSummary.MemberEntry(name: identity.name, generation: identity.generation, incarnation: incarnation,
                                          status: (hasLeft ? MemberState.left : .alive).summaryCode)
        return SyncRecords.summary(own: own, sender: identity.name, table: table, digests: store, wantsReply: wantsReply)
    }

    /// What the peer's summary shows it lacks; a summary that holds this member suspect or dead at its current
    /// incarnation is refuted first, so that the reply carries the refutation.
    private mutating func recordsLacking(in summary: SyncSummary, now: Instant, rng: inout some RandomNumberGenerator) -> [GossipMessage] {
        let peer = SyncRecords.PeerView(summary)
        if let mine = peer.entry(identity.name, identity.generation), !hasLeft,
           let state = MemberState(summaryCode: mine.status), state == .suspect || state == .dead, mine.incarnation >= incarnation {
            refute(accusedIncarnation: mine.incarnation, now: now, rng: &rng)
        }
        return SyncRecords.lacking(in: peer, own: selfRecord, table: table, accuser: identity.name, relayAge: tombstoneRelayAge, now: now)
            + store.lacking(in: summary.digests)
    }

    /// Tombstones younger than this are passed on in state sync; one learned there counts as this old already, so
    /// that it is never passed on again and no copy outlives `tombstoneTime` counted from the death's first news.
    var tombstoneRelayAge: Duration { settings.tombstoneTime / 2 }

    // MARK: Timers

    private mutating func start(now: Instant, rng: inout some RandomNumberGenerator) {
        guard !started else { return }
        started = true
        // Spread the first probe, sync and maintenance over one interval so that members started together do not
        // act in lockstep.
        nextProbeAt = now + jitter(settings.probeInterval, rng: &rng)
        nextSyncAt = now + settings.syncInterval + jitter(settings.syncInterval, rng: &rng)
        nextMaintenanceAt = now + jitter(settings.deadProbeInterval, rng: &rng)
        nextSeedSyncAt = now + settings.seedSyncInterval + jitter(settings.seedSyncInterval, rng: &rng)
        nextLonelySyncAt = now + settings.probeInterval
    }

    /// Opens a state sync with the next seed (`SeedRotation`), and says when to try the next: a member that knows
    /// no one has no other way in.
    private mutating func syncWithNextSeed(now: Instant, rng: inout some RandomNumberGenerator) {
        guard let next = seeds.next(probeInterval: settings.probeInterval, deadProbeInterval: settings.deadProbeInterval,
                                    rng: &rng) else { return }
        out.append(.startStateSync(with: next.seed))
        nextLonelySyncAt = now + next.wait
    }

    func jitter(_ span: Duration, rng: inout some RandomNumberGenerator) -> Duration {
        let micros = max(1, Int64(GossipFormulas.seconds(span) * 1e6))
        return .microseconds(Int64.random(in: 0..<micros, using: &rng))
    }

    /// Ends an input handled in another file: the timers and the directives, as every input ends.
    mutating func finishInput(now: Instant) -> [GossipDirective] { finish(now: now) }

    private mutating func finish(now: Instant) -> [GossipDirective] {
        var next: Instant? = nil
        func consider(_ t: Instant?) {
            guard let t else { return }
            if let n = next { if t < n { next = t } } else { next = t }
        }
        if started {
            if !hasLeft {
                for probe in probes.list { consider(probe.wake) }
                consider(nextProbeAt)
                consider(nextSyncAt)
                consider(nextMaintenanceAt)
                if !seeds.isEmpty { consider(nextSeedSyncAt) }
                if !seeds.isEmpty, table.activeCount == 0 { consider(nextLonelySyncAt) }
                if !suspicions.isEmpty { consider(suspicions.wake) }
                if !generationChecks.pending.isEmpty { consider(generationChecks.nextExpiry) }
            }
            consider(relays.nextWake)
            consider(nextGossipAt)
            if let n = next { out.append(.scheduleTick(at: max(n, now))) }
        }
        // Hand the buffer over rather than copy it and keep its capacity: after a large sync it would hold
        // thousands of slots for as long as the member lives.
        var result: [GossipDirective] = []
        swap(&result, &out)
        return result
    }

    /// Emits `message` alone in a datagram to `target` (no piggybacked news: it is urgent or goes where news is
    /// likely lost).
    mutating func sendAlone(_ message: GossipMessage, to target: PeerAddress) {
        out.append(.send([message], to: target, bytes: WireEncoding.packetSize(messageSizes: [WireEncoding.encodedSize(of: message)])))
    }
}
