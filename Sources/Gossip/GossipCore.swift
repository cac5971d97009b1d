import MeshCrypto
import Wire

/// The SWIM/Lifeguard protocol of one member as a value: every input is a method that takes `now` and a random
/// generator and returns directives; it performs no I/O, reads no clock and draws no global randomness.
///
/// A shell (the NIO service, or the simulation) feeds it datagrams, state-sync frames and ticks, and carries out
/// what it returns. Timers are data: the instants at which the next probe, gossip round, sync or suspicion expiry
/// is due are stored here and checked on every call.
public struct GossipCore: Sendable {
    typealias Instant = ContinuousClock.Instant

    struct Suspicion: Sendable {
        let start: Instant
        let incarnation: UInt64
        /// Distinct members that accused; the first is the originator, the others confirmations.
        private(set) var accusers: Set<String>
        let minimum: Duration
        let maximum: Duration
        /// When the suspect is next told of the suspicion directly, in case the last word or its answer was lost.
        var nextNudgeAt: Instant
        /// Lifeguard's K for this suspicion: 0 when the mesh is too small to ever confirm K times.
        let expectedConfirmations: Int
        /// When the suspect is declared dead unless it refutes: moves earlier with each confirmation. Kept rather
        /// than computed on every tick, which with a whole cluster under suspicion is most of a member's work.
        private(set) var deadline: Instant

        init(start: Instant, incarnation: UInt64, accuser: String, minimum: Duration, maximum: Duration,
             nextNudgeAt: Instant, expectedConfirmations: Int) {
            self.start = start
            self.incarnation = incarnation
            self.accusers = [accuser]
            self.minimum = minimum
            self.maximum = maximum
            self.nextNudgeAt = nextNudgeAt
            self.expectedConfirmations = expectedConfirmations
            self.deadline = start
            updateDeadline()
        }

        var confirmations: Int { max(0, accusers.count - 1) }

        /// When this suspicion next needs attention: its nudge or its end.
        var wake: Instant { min(deadline, nextNudgeAt) }

        /// Counts an independent confirmation; false when `accuser` had accused already.
        mutating func confirm(by accuser: String) -> Bool {
            guard accusers.insert(accuser).inserted else { return false }
            updateDeadline()
            return true
        }

        private mutating func updateDeadline() {
            deadline = start + GossipFormulas.remainingSuspicionTime(
                confirmations: confirmations, k: expectedConfirmations, elapsed: .zero, min: minimum, max: maximum)
        }
    }

    struct Probe: Sendable {
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
    }

    struct Relay: Sendable {
        var requester: PeerAddress
        var requesterSequence: UInt32
        var target: String
        var nackAt: Instant?
        var expiresAt: Instant
    }

    /// The core's settings.
    public let settings: GossipSettings
    /// This member's identity.
    public let identity: MemberIdentity
    /// This member's advertised gossip address.
    public let address: PeerAddress
    /// This member's current incarnation; raised to refute suspicion.
    public private(set) var incarnation: UInt64 = 0
    /// Lifeguard's local health score: 0 is healthy; timeouts and intervals scale by `score + 1`.
    public private(set) var localHealthScore = 0
    /// Whether `leave` was called.
    public private(set) var hasLeft = false

    private let signer: (any MessageSigner)?
    private let verifier: RecordVerifier
    private let memo: VerificationMemo
    private var selfRecord: SignedMemberRecord

    private var table = MemberTable()
    private var activeCount = 0
    private var tombstoneCount = 0
    private var suspicions: [MemberKey: Suspicion] = [:]
    /// No suspicion needs attention before this (a lower bound: a suspicion ended early may leave it too soon),
    /// so that a tick or packet does not look at every suspicion when a whole cluster is under one.
    private var suspicionWake: Instant?
    private var probeOrder: [String] = []
    private var probeCursor = 0
    /// Members to probe before the round robin goes on: alive siblings of members just suspected (newest last).
    private var siblingProbes: [String] = []
    /// Probes under way: at most one of the round robin, and searches of suspects' clusters.
    private var probes: [Probe] = []
    /// Searches this member may still start in the current probe period.
    private var searchBudget = GossipCore.maxSearches
    private var relays: [UInt32: Relay] = [:]
    private var sequence: UInt32 = 0
    private var membershipQueue: TransmitQueue
    private var digestQueue: TransmitQueue
    private var store: [String: SignedDigest] = [:]
    private var seeds: [PeerAddress] = []
    /// While alone: the seeds not tried yet in this pass, so that every seed is tried before any twice.
    private var untriedSeeds: [PeerAddress] = []
    /// Passes over the seeds in this spell of being alone; the first goes at the probe rate.
    private var lonelyPasses = 0
    /// When a repair sync was last opened with an address, so that an unknown prober triggers at most one.
    private var repairSyncs: [PeerAddress: Instant] = [:]
    /// Until when dead members are probed again at the probe rate: set when a dead member comes back, the sign
    /// of a healed partition, so that the rest of the other side is found within a few periods.
    private var reprobeBurstUntil: Instant?
    /// Members back from a partition or a pause lately, whose accusations are doubted (`doubt`).
    private var returned = ReturnedMembers()
    /// Set by `join` until the first state sync has told us whom to announce ourselves to.
    private var announcePending = false
    /// Older generations of a name being pinged to tell a restart from a name started twice, and those found gone.
    private var generationChecks: GenerationChecks
    /// The digests of older generations held beside a newer one of their name (a name started twice): each live
    /// generation vouches with its own digest. Empty unless a name is in conflict.
    private var olderDigests: [MemberKey: SignedDigest] = [:]
    /// Other live processes found using this member's own name, by generation (each reported once).
    private var selfConflicts: [UInt64: MemberSnapshot] = [:]
    /// When this member last re-asserted itself against a newer namesake: at most once a dead-probe interval.
    private var lastReassertAt: Instant?
    /// For each name started twice, how often the current probe round has visited it, so each generation gets its
    /// turn (such a name appears in the round once per live generation).
    private var twinVisits: [String: Int] = [:]

    private var started = false
    private var nextProbeAt: Instant?
    private var nextGossipAt: Instant?
    private var nextSyncAt: Instant?
    private var nextMaintenanceAt: Instant?
    private var nextSeedSyncAt: Instant?
    private var nextLonelySyncAt: Instant?
    private var out: [GossipDirective] = []

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
        self.membershipQueue = TransmitQueue(capacity: settings.maxQueuedUpdates)
        self.digestQueue = TransmitQueue(capacity: settings.maxQueuedUpdates)
        self.generationChecks = GenerationChecks(maxSilent: settings.maxTombstones)
        self.selfRecord = Self.sign(MemberRecord(identity: identity, address: address, incarnation: 0, status: .alive), signer)
    }

    private static func sign(_ record: MemberRecord, _ signer: (any MessageSigner)?) -> SignedMemberRecord {
        if let signer {
            return SignedMemberRecord(record: record, keyID: signer.keyID, signature: signer.sign(WireEncoding.signedBytes(of: record)))
        }
        return SignedMemberRecord(record: record, keyID: KeyID(rawValue: 0), signature: [])
    }

    // MARK: Read API

    /// Every other member known, tombstones included, sorted by name (and generation, for a name started twice).
    public var members: [MemberSnapshot] {
        table.members.map(\.snapshot).sorted { ($0.name, $0.identity.generation) < ($1.name, $1.identity.generation) }
    }

    /// Every generation of `name` held, newest first: one, or two while the name is started twice.
    public func members(named name: String) -> [MemberSnapshot] { table.generations(of: name).map(\.snapshot) }

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

    /// This member as others should see it.
    public var selfSnapshot: MemberSnapshot {
        MemberSnapshot(identity: identity, address: address, state: hasLeft ? .left : .alive, incarnation: incarnation)
    }

    /// The member called `name`, if known: its newest generation.
    public func member(named name: String) -> MemberSnapshot? { table[name]?.snapshot }

    /// The newest verified digest of every origin, sorted by origin name; for a name started twice, the newest of
    /// each generation held (oldest first), so that each live one vouches with its own.
    public var digests: [SignedDigest] {
        let all = olderDigests.isEmpty ? Array(store.values) : Array(store.values) + olderDigests.values
        return all.sorted { ($0.digest.origin.name, $0.digest.origin.generation) < ($1.digest.origin.name, $1.digest.origin.generation) }
    }

    /// The newest verified digest from `origin` (of its newest generation).
    public func digest(from origin: String) -> SignedDigest? { store[origin] }

    /// Other members currently alive or suspect.
    public var activeMemberCount: Int { activeCount }

    /// This member's newest signed record.
    public var ownRecord: SignedMemberRecord { selfRecord }

    // MARK: Inputs

    /// Starts the protocol and opens a state sync with up to three of `seeds` (addresses already resolved).
    public mutating func join(
        seeds: [PeerAddress], now: ContinuousClock.Instant, wallClockMillis: UInt64, rng: inout some RandomNumberGenerator
    ) -> [GossipDirective] {
        start(now: now, rng: &rng)
        self.seeds = seeds.filter { $0 != address }
        // A seed name may stand for every pod of a headless Service: a few random ones are enough to join
        // (one round trip each brings the whole membership), and spare the others a thundering herd.
        for _ in 0..<min(3, self.seeds.count) { syncWithNextSeed(now: now, rng: &rng) }
        if !self.seeds.isEmpty {
            // Announce ourselves too: the seed relays our record, but a restarted member must reach everyone fast.
            enqueueMembership(.member(selfRecord), about: identity.name, now: now, rng: &rng)
            announcePending = true
        }
        // Members that joined while our own join was under way are caught by one early sync with a random member.
        if !self.seeds.isEmpty { nextSyncAt = now + settings.probeInterval * 4 + jitter(settings.probeInterval * 4, rng: &rng) }
        return finish(now: now)
    }

    /// Replaces the seed addresses (the shell re-resolves DNS seeds now and then).
    public mutating func setSeeds(_ seeds: [PeerAddress]) {
        let seeds = seeds.filter { $0 != address }
        guard Set(seeds) != Set(self.seeds) else { return }
        self.seeds = seeds
        // New addresses (pods replaced) deserve a fresh pass at the probe rate, if we are alone.
        untriedSeeds.removeAll()
        lonelyPasses = 0
    }

    /// Runs whatever timers are due: probes, indirect probes, suspicion expiry, gossip rounds, syncs.
    public mutating func onTick(
        now: ContinuousClock.Instant, wallClockMillis: UInt64, rng: inout some RandomNumberGenerator
    ) -> [GossipDirective] {
        start(now: now, rng: &rng)
        if !hasLeft {
            runProbe(now: now, rng: &rng)
            expireSuspicions(now: now, rng: &rng)
            if !generationChecks.pending.isEmpty { expireGenerationChecks(now: now) }
            if activeCount > 0 {
                if lonelyPasses > 0 {
                    // No longer alone: the next spell starts with a fresh pass.
                    lonelyPasses = 0
                    untriedSeeds.removeAll()
                }
            } else if let at = nextLonelySyncAt, now >= at, !seeds.isEmpty {
                syncWithNextSeed(now: now, rng: &rng)
            }
            if let at = nextSyncAt, now >= at {
                if let peer = randomActive(excluding: [], rng: &rng) {
                    out.append(.startStateSync(with: peer.address))
                }
                nextSyncAt = now + settings.syncInterval * GossipFormulas.pushPullScale(n: activeCount + 1)
            }
            if let at = nextSeedSyncAt, now >= at {
                if let seed = seeds.randomElement(using: &rng) { out.append(.startStateSync(with: seed)) }
                nextSeedSyncAt = now + settings.seedSyncInterval
            }
            if let at = nextMaintenanceAt, now >= at {
                let bursting = reprobeBurstUntil.map { now < $0 } ?? false
                maintain(now: now, probes: bursting ? settings.indirectChecks : 1, rng: &rng)
                nextMaintenanceAt = now + (bursting ? settings.probeInterval : settings.deadProbeInterval)
            }
        }
        expireRelays(now: now)
        if let at = nextGossipAt, now >= at {
            gossipRound(rng: &rng)
            nextGossipAt = membershipQueue.isEmpty && digestQueue.isEmpty ? nil : now + settings.gossipInterval
        }
        return finish(now: now)
    }

    /// Handles one received datagram's messages.
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
            case .digest(let digest): receive(digest, viaSync: false, now: now, wallClockMillis: wallClockMillis, rng: &rng)
            default: break
            }
        }
        for message in messages {
            switch message {
            case .ping(let ping):
                onPing(ping, from: sender, rng: &rng)
                repairIfUnknown(ping.source, at: sender, now: now)
            case .pingRequest(let request): onPingRequest(request, from: sender, now: now, rng: &rng)
            case .ack(let ack): onAck(ack, now: now, rng: &rng)
            case .nack(let nack): if let i = probes.firstIndex(where: { $0.sequence == nack.sequence }) { probes[i].nacks += 1 }
            default: break
            }
        }
        if accusedHere, !hasLeft {
            // Whoever holds a stale accusation (older incarnation or a predecessor's generation) gets our newest
            // record straight back: refutation then needs no luck with gossip.
            let message = GossipMessage.member(selfRecord)
            out.append(.send([message], to: sender, bytes: WireEncoding.packetSize(messageSizes: [WireEncoding.encodedSize(of: message)])))
        }
        return finish(now: now)
    }

    /// Stores and disseminates this member's own newest signed digest.
    public mutating func onLocalDigest(
        _ digest: SignedDigest, now: ContinuousClock.Instant, rng: inout some RandomNumberGenerator
    ) -> [GossipDirective] {
        start(now: now, rng: &rng)
        let origin = digest.digest.origin.name
        if let stored = store[origin], digest.digest.order <= stored.digest.order { return finish(now: now) }
        store[origin] = digest
        memo.insert(digest)
        out.append(.digestAccepted(digest))
        disseminate(digest, now: now, rng: &rng)
        return finish(now: now)
    }

    /// Announces a graceful departure: a signed left record, pushed at once to several members.
    public mutating func leave(now: ContinuousClock.Instant, rng: inout some RandomNumberGenerator) -> [GossipDirective] {
        guard !hasLeft else { return [] }
        hasLeft = true
        incarnation += 1
        selfRecord = Self.sign(MemberRecord(identity: identity, address: address, incarnation: incarnation, status: .left), signer)
        let message = GossipMessage.member(selfRecord)
        let size = WireEncoding.encodedSize(of: message)
        membershipQueue.enqueue(message, key: "m:" + identity.name, size: size)
        var chosen: Set<String> = []
        var targets: [PeerAddress] = []
        for _ in 0..<(2 * settings.gossipFanout) {
            guard let peer = randomActive(excluding: chosen, rng: &rng) else { break }
            chosen.insert(peer.identity.name)
            targets.append(peer.address)
        }
        for target in targets {
            out.append(.send([message], to: target, bytes: WireEncoding.packetSize(messageSizes: [size])))
        }
        probes.removeAll()
        scheduleGossip(now: now, rng: &rng)
        return finish(now: now)
    }

    // MARK: State sync

    /// The first frame of a state sync this member opens: its summary and its own record.
    public func stateSyncRequest() -> [GossipMessage] {
        [.syncSummary(summary(wantsReply: true)), .member(selfRecord)]
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
                let key = MemberKey(name: record.record.identity.name, generation: record.record.identity.generation)
                receive(record, relay: record.record.identity.name == peerName, deadAt: verdicts.isEmpty ? nil : verdicts[key],
                        viaSync: true, now: now, rng: &rng)
            case .accusation(let accusation): receive(accusation, now: now, rng: &rng)
            case .digest(let digest): receive(digest, viaSync: true, now: now, wallClockMillis: wallClockMillis, rng: &rng)
            default: break
            }
        }
        if announcePending, activeCount > 0 {
            announcePending = false
            announce(rng: &rng)
        }
        var reply: [GossipMessage] = []
        if let peerSummary {
            if peerSummary.wantsReply { reply.append(.syncSummary(summary(wantsReply: false))) }
            reply += recordsLacking(in: peerSummary, now: now, rng: &rng)
        }
        let directives = finish(now: now)
        return (reply, directives)
    }

    func summary(wantsReply: Bool) -> SyncSummary {
        var entries: [SyncSummary.MemberEntry] = []
        entries.reserveCapacity(table.count + 1)
        entries.append(.init(name: identity.name, generation: identity.generation, incarnation: incarnation,
                             status: (hasLeft ? MemberState.left : .alive).summaryCode))
        for m in table.members {
            entries.append(.init(name: m.identity.name, generation: m.identity.generation, incarnation: m.incarnation,
                                 status: m.state.summaryCode))
        }
        var digestEntries = store.values.map { SyncSummary.DigestEntry(origin: $0.digest.origin.name, order: $0.digest.order) }
        for d in olderDigests.values { digestEntries.append(.init(origin: d.digest.origin.name, order: d.digest.order)) }
        return SyncSummary(sender: identity.name, members: entries, digests: digestEntries, wantsReply: wantsReply)
    }

    private mutating func recordsLacking(in peer: SyncSummary, now: Instant, rng: inout some RandomNumberGenerator) -> [GossipMessage] {
        // The peer's newest generation of each name, and any older one it holds beside it (a name started twice).
        var known: [String: SyncSummary.MemberEntry] = [:]
        var knownOlder: [MemberKey: SyncSummary.MemberEntry] = [:]
        known.reserveCapacity(peer.members.count)
        for e in peer.members {
            if let k = known[e.name], k.generation != e.generation {
                let older = k.generation < e.generation ? k : e
                knownOlder[MemberKey(name: older.name, generation: older.generation)] = older
                if k.generation < e.generation { known[e.name] = e }
            } else {
                known[e.name] = e
            }
        }
        func entry(_ name: String, _ generation: UInt64) -> SyncSummary.MemberEntry? {
            if let e = known[name], e.generation == generation { return e }
            return knownOlder.isEmpty ? nil : knownOlder[MemberKey(name: name, generation: generation)]
        }
        var out: [GossipMessage] = []
        let mine = entry(identity.name, identity.generation)
        if let mine, !hasLeft, let state = MemberState(summaryCode: mine.status), state == .suspect || state == .dead,
           mine.incarnation >= incarnation {
            refute(accusedIncarnation: mine.incarnation, now: now, rng: &rng)
        }
        if let mine, mine.incarnation >= incarnation {
            // The peer knows this record already.
        } else {
            out.append(.member(selfRecord))
        }
        // The peer knows itself best; another generation of its name is news to it (a name started twice).
        let senderGeneration = known[peer.sender]?.generation
        for m in table.members.sorted(by: { ($0.name, $0.identity.generation) < ($1.name, $1.identity.generation) }) {
            let record = m.record
            let generation = m.identity.generation
            if m.name == peer.sender, generation == senderGeneration { continue }
            let e = entry(m.name, generation)
            if !m.state.isActive, now - m.stateSince >= tombstoneRelayAge {
                // Old enough that the rumours it guards against are long gone: not passed on, so that a tombstone
                // cannot bounce between members that forget it at different times and outlive its time.
                continue
            }
            if m.state == .dead {
                // A tombstone, so that a peer that never heard of this generation (a joiner) rejects replays of its
                // alive records: its own record and the verdict. A peer that knows the generation already is left
                // to gossip and probes, as before: after a partition it holds its own side alive, and a verdict from
                // the other side would only make it doubt members it can reach.
                if e != nil { continue }
                if let newest = known[m.name], newest.generation > generation { continue }
                out.append(.member(record))
                out.append(.accusation(Accusation(kind: .dead, target: m.name, generation: generation, incarnation: m.incarnation,
                                                  accuser: identity.name)))
                continue
            }
            if let e {
                if e.incarnation >= record.record.incarnation { continue }
            } else if let newest = known[m.name], newest.generation > generation, !m.state.isActive {
                // A predecessor's tombstone is no news where its successor is known; a live older generation is
                // (the peer checks whether it still runs).
                continue
            }
            out.append(.member(record))
        }
        var stored: [String: DigestOrder] = [:]
        for e in peer.digests {
            if let order = stored[e.origin], order >= e.order { continue }
            stored[e.origin] = e.order
        }
        for d in store.values.sorted(by: { $0.digest.origin.name < $1.digest.origin.name }) {
            if let order = stored[d.digest.origin.name], order >= d.digest.order { continue }
            out.append(.digest(d))
        }
        if !olderDigests.isEmpty {
            var exact: [MemberKey: UInt64] = [:]
            for e in peer.digests {
                let key = MemberKey(name: e.origin, generation: e.order.generation)
                exact[key] = max(exact[key] ?? 0, e.order.version)
            }
            for (key, d) in olderDigests.sorted(by: { ($0.key.name, $0.key.generation) < ($1.key.name, $1.key.generation) }) {
                if let version = exact[key], version >= d.digest.version { continue }
                out.append(.digest(d))
            }
        }
        return out
    }

    /// Tombstones younger than this are passed on in state sync; one learned there counts as this old already, so
    /// that it is never passed on again and no copy outlives `tombstoneTime` counted from the death's first news.
    private var tombstoneRelayAge: Duration { settings.tombstoneTime / 2 }

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

    /// Opens a state sync with the next seed of a shuffled pass over all of them, and says when to try the next.
    ///
    /// A member that knows no one has no other way in. The first pass goes at the probe rate, so a joiner whose
    /// first seeds are down (a headless Service lists pods that are gone) is in within a few periods; later
    /// passes go no faster than dead members are probed.
    private mutating func syncWithNextSeed(now: Instant, rng: inout some RandomNumberGenerator) {
        if untriedSeeds.isEmpty {
            untriedSeeds = seeds.shuffled(using: &rng)
            lonelyPasses += 1
        }
        guard let seed = untriedSeeds.popLast() else { return }
        out.append(.startStateSync(with: seed))
        nextLonelySyncAt = now + (lonelyPasses <= 1 ? settings.probeInterval : settings.deadProbeInterval)
    }

    private func jitter(_ span: Duration, rng: inout some RandomNumberGenerator) -> Duration {
        let micros = max(1, Int64(GossipFormulas.seconds(span) * 1e6))
        return .microseconds(Int64.random(in: 0..<micros, using: &rng))
    }

    private var scale: Int { localHealthScore + 1 }

    private mutating func finish(now: Instant) -> [GossipDirective] {
        var next: Instant? = nil
        func consider(_ t: Instant?) {
            guard let t else { return }
            if let n = next { if t < n { next = t } } else { next = t }
        }
        if started {
            if !hasLeft {
                for probe in probes { consider(probe.indirectSent ? probe.endAt : probe.timeoutAt) }
                consider(nextProbeAt)
                consider(nextSyncAt)
                consider(nextMaintenanceAt)
                if !seeds.isEmpty { consider(nextSeedSyncAt) }
                if !seeds.isEmpty, activeCount == 0 { consider(nextLonelySyncAt) }
                if !suspicions.isEmpty { consider(suspicionWake) }
                if !generationChecks.pending.isEmpty { consider(generationChecks.nextExpiry) }
            }
            for r in relays.values { consider(r.nackAt ?? r.expiresAt) }
            consider(nextGossipAt)
            if let n = next { out.append(.scheduleTick(at: max(n, now))) }
        }
        // Hand the buffer over rather than copy it and keep its capacity: after a large sync it would hold
        // thousands of slots for as long as the member lives.
        var result: [GossipDirective] = []
        swap(&result, &out)
        return result
    }

    // MARK: Probing

    private mutating func nextSequence() -> UInt32 {
        sequence &+= 1
        return sequence
    }

    private mutating func runProbe(now: Instant, rng: inout some RandomNumberGenerator) {
        var i = 0
        while i < probes.count {
            if !probes[i].indirectSent, now >= probes[i].timeoutAt {
                var p = probes[i]
                askForIndirectProbes(&p, now: now, rng: &rng)
                probes[i] = p
            }
            guard now >= probes[i].endAt else {
                i += 1
                continue
            }
            // Concluding may start searches, appended behind this one.
            conclude(probes.remove(at: i), now: now, rng: &rng)
        }
        guard !probes.contains(where: { !$0.isSearch }), let at = nextProbeAt, now >= at else { return }
        nextProbeAt = now + settings.probeInterval * scale
        searchBudget = Self.maxSearches
        guard let target = nextProbeTarget(rng: &rng) else { return }
        startProbe(of: target, search: false, now: now, rng: &rng)
    }

    /// No direct ack in time: asks k others to try (SWIM), and to say so when they fail too (Lifeguard).
    ///
    /// A search asks no one of the target's own cluster: during the zone failure it looks for, they are likely
    /// gone too, and their silence would count against our own health.
    private mutating func askForIndirectProbes(_ p: inout Probe, now: Instant, rng: inout some RandomNumberGenerator) {
        p.indirectSent = true
        var helpers: [Member] = []
        var excluded: Set<String> = [p.target]
        let avoided = p.isSearch ? table[MemberKey(name: p.target, generation: p.generation)]?.identity.cluster : nil
        for _ in 0..<settings.indirectChecks {
            guard let h = randomActive(excluding: excluded, aliveOnly: true, outside: avoided, rng: &rng) else { break }
            excluded.insert(h.identity.name)
            helpers.append(h)
        }
        p.expectedNacks = helpers.count
        for h in helpers {
            let request = PingRequest(sequence: p.sequence, source: identity.name, target: p.target,
                                      targetGeneration: p.generation, targetAddress: p.address, wantsNack: true)
            sendWithPiggyback([.pingRequest(request)], to: h.address, now: now, rng: &rng)
        }
    }

    /// A probe's period ended without an ack: the target is suspect.
    private mutating func conclude(_ p: Probe, now: Instant, rng: inout some RandomNumberGenerator) {
        // Lifeguard: if no helper even said "no answer", the fault is likely ours: slow down. One nack proves we
        // can still talk to the mesh, so the silence is the target's (a dead cluster takes some helpers with it,
        // and must not slow its own detection down).
        // A search is our own extra effort, not a sign of our health: only the round robin's probes count.
        if p.nacks == 0, !p.isSearch { adjustHealth(by: 1) }
        if let m = table[MemberKey(name: p.target, generation: p.generation)], m.state.isActive {
            let accusation = Accusation(kind: .suspect, target: p.target, generation: p.generation,
                                        incarnation: m.incarnation, accuser: identity.name)
            receive(accusation, now: now, rng: &rng)
        }
    }

    private mutating func startProbe(
        of target: Member, search: Bool, telling accusation: Accusation? = nil, now: Instant, rng: inout some RandomNumberGenerator
    ) {
        let seq = nextSequence()
        probes.append(Probe(target: target.identity.name, generation: target.identity.generation, incarnation: target.incarnation,
                            address: target.address, sequence: seq, timeoutAt: now + settings.probeTimeout * scale,
                            endAt: now + settings.probeInterval * scale, isSearch: search))
        let ping = Ping(sequence: seq, source: identity.name, target: target.identity.name,
                        targetGeneration: target.identity.generation)
        if target.state == .suspect {
            // Updates sent to a suspect are likely lost; it gets only the ping and its own suspicion (Lifeguard's
            // buddy system: the suspect learns of it from its prober and can refute).
            let ping = GossipMessage.ping(ping)
            let told = GossipMessage.accusation(Accusation(kind: .suspect, target: target.identity.name, generation: target.identity.generation,
                                                           incarnation: target.incarnation, accuser: identity.name))
            out.append(.send([ping, told], to: target.address, bytes: WireEncoding.packetSize(messageSizes: [ping, told].map(WireEncoding.encodedSize(of:)))))
        } else {
            sendWithPiggyback([.ping(ping)] + (accusation.map { [.accusation($0)] } ?? []), to: target.address, now: now, rng: &rng)
        }
    }

    private func isProbing(_ key: MemberKey) -> Bool {
        probes.contains { $0.target == key.name && $0.generation == key.generation }
    }

    private mutating func nextProbeTarget(rng: inout some RandomNumberGenerator) -> Member? {
        while let name = siblingProbes.popLast() {
            if let m = table[name], m.state == .alive, !isProbing(m.key) { return m }
        }
        for pass in 0..<2 {
            while probeCursor < probeOrder.count {
                let name = probeOrder[probeCursor]
                probeCursor += 1
                if let m = roundTarget(name) { return m }
            }
            guard pass == 0 else { break }
            // A round is over: shuffle the active members for the next (SWIM's randomised round robin).
            probeOrder = table.members.filter(\.state.isActive).map(\.name)
            probeOrder.shuffle(using: &rng)
            probeCursor = 0
            if !twinVisits.isEmpty { twinVisits.removeAll() }
        }
        return nil
    }

    /// The generation of `name` the round robin probes at this visit: the only one, or for a name started twice
    /// (which is in the round once per live generation) each in turn.
    private mutating func roundTarget(_ name: String) -> Member? {
        guard table.hasOlderGenerations else {
            guard let m = table[name], m.state.isActive, !isProbing(m.key) else { return nil }
            return m
        }
        let live = table.generations(of: name).filter(\.state.isActive)
        guard !live.isEmpty else { return nil }
        var m = live[0]
        if live.count > 1 {
            let visit = twinVisits[name, default: 0]
            twinVisits[name] = visit + 1
            m = live[visit % live.count]
        }
        return isProbing(m.key) ? nil : m
    }

    /// Probes alive members of the suspect's cluster at once: `count` of them, beside the round robin.
    ///
    /// The failure that matters most here is a whole cluster (a zone) failing at once. The round robin finds its
    /// members one by one, the last one after about ln(cluster size) periods; probing a suspect's siblings at once
    /// turns each suspicion into a search of its cluster, and every member joins the search as the suspicion
    /// spreads. The member whose own probe failed searches `indirectChecks` siblings, one per helper it would ask
    /// anyway; the others one each, so a false suspicion costs the mesh about one probe per member. A member
    /// starts at most `maxSearches` searches a period, so that under heavy loss the searches' own false
    /// suspicions cannot breed more searches without bound; one that is struggling (Lifeguard: it slows down,
    /// never speeds up) or has used up its budget puts the siblings at the front of its round robin instead.
    private mutating func searchSiblings(of suspect: Member, count: Int, now: Instant, rng: inout some RandomNumberGenerator) {
        let cluster = suspect.identity.cluster
        guard !cluster.isEmpty, !hasLeft, !table.isEmpty else { return }
        // Alive siblings after a random place: a scan, but a short one unless the cluster is nearly gone, and
        // different members start at different places, so they search different siblings.
        let members = table.members
        let start = Int.random(in: 0..<members.count, using: &rng)
        var found = 0
        for step in 0..<members.count {
            guard found < count else { break }
            let m = members[(start + step) % members.count]
            guard m.state == .alive, m.identity.cluster == cluster, !isProbing(m.key) else { continue }
            found += 1
            if localHealthScore == 0, searchBudget > 0, probes.count(where: \.isSearch) < Self.maxSearches {
                searchBudget -= 1
                startProbe(of: m, search: true, now: now, rng: &rng)
            } else if !siblingProbes.contains(m.name) {
                siblingProbes.append(m.name)
                // Only the newest few: a cluster failing floods us with suspicions.
                if siblingProbes.count > Self.maxSearches { siblingProbes.removeFirst() }
            }
        }
    }

    /// Searches under way at once, and started in one probe period, at most: a cluster failing floods a member
    /// with suspicions.
    public static let maxSearches = 4

    private mutating func adjustHealth(by delta: Int) {
        localHealthScore = min(settings.maxLocalHealth, max(0, localHealthScore + delta))
    }

    private mutating func onPing(_ ping: Ping, from sender: PeerAddress, rng: inout some RandomNumberGenerator) {
        // A ping meant for someone else (a predecessor at this address, or another name) gets no answer.
        guard ping.target.isEmpty || ping.target == identity.name else { return }
        guard ping.targetGeneration == 0 || ping.targetGeneration == identity.generation else { return }
        var control: [GossipMessage] = [.ack(Ack(sequence: ping.sequence, source: identity.name))]
        // A member we hold dead is talking to us: tell it, so that it refutes and a healed partition merges. (Of a name
        // started twice, the generation at the sender's address.)
        let source = table.hasOlderGenerations
            ? table.generations(of: ping.source).first { $0.address == sender } ?? table[ping.source] : table[ping.source]
        if let m = source, m.state == .dead {
            control.append(.accusation(Accusation(kind: .dead, target: m.identity.name, generation: m.identity.generation,
                                                  incarnation: m.incarnation, accuser: identity.name)))
        }
        sendWithPiggyback(control, to: sender, now: nil, rng: &rng)
    }

    /// Sends our record straight to up to 64 members after joining, so that a restarted member is alive
    /// everywhere at once in meshes of that size, and seeds the gossip in larger ones.
    private mutating func announce(rng: inout some RandomNumberGenerator) {
        let message = GossipMessage.member(selfRecord)
        let bytes = WireEncoding.packetSize(messageSizes: [WireEncoding.encodedSize(of: message)])
        var targets = table.members.filter(\.state.isActive)
        targets.shuffle(using: &rng)
        for m in targets.prefix(64) {
            out.append(.send([message], to: m.address, bytes: bytes))
        }
    }

    /// A member we have never heard of is probing us: its join news missed us, so sync with it once.
    private mutating func repairIfUnknown(_ name: String, at sender: PeerAddress, now: Instant) {
        guard !hasLeft, !name.isEmpty, table[name] == nil, name != identity.name else { return }
        if let last = repairSyncs[sender], now - last < settings.deadProbeInterval { return }
        repairSyncs[sender] = now
        out.append(.startStateSync(with: sender))
    }

    private mutating func onPingRequest(_ request: PingRequest, from sender: PeerAddress, now: Instant, rng: inout some RandomNumberGenerator) {
        guard request.target != identity.name else { return }
        let seq = nextSequence()
        // Nack a little before the requester's period ends, so that it arrives in time to count.
        let nackAt: Instant? = request.wantsNack ? now + settings.probeTimeout * scale * 8 / 10 : nil
        relays[seq] = Relay(requester: sender, requesterSequence: request.sequence, target: request.target,
                            nackAt: nackAt, expiresAt: now + settings.probeInterval * scale)
        let ping = Ping(sequence: seq, source: identity.name, target: request.target, targetGeneration: request.targetGeneration)
        sendWithPiggyback([.ping(ping)], to: request.targetAddress, now: now, rng: &rng)
    }

    private mutating func onAck(_ ack: Ack, now: Instant, rng: inout some RandomNumberGenerator) {
        if !generationChecks.pending.isEmpty, let record = generationChecks.answer(sequence: ack.sequence, from: ack.source) {
            admitOlderGeneration(record, now: now, rng: &rng)
            return
        }
        if let i = probes.firstIndex(where: { $0.sequence == ack.sequence && $0.target == ack.source }) {
            probes.remove(at: i)
            adjustHealth(by: -1)
            return
        }
        if let relay = relays.removeValue(forKey: ack.sequence), relay.target == ack.source {
            sendWithPiggyback([.ack(Ack(sequence: relay.requesterSequence, source: relay.target))], to: relay.requester,
                              now: now, rng: &rng)
        }
    }

    private mutating func expireRelays(now: Instant) {
        guard !relays.isEmpty else { return }
        for (seq, relay) in relays.sorted(by: { $0.key < $1.key }) {
            if let nackAt = relay.nackAt, now >= nackAt {
                relays[seq]?.nackAt = nil
                let nack = GossipMessage.nack(Nack(sequence: relay.requesterSequence, source: identity.name))
                out.append(.send([nack], to: relay.requester, bytes: WireEncoding.packetSize(messageSizes: [WireEncoding.encodedSize(of: nack)])))
            }
            if now >= relay.expiresAt { relays[seq] = nil }
        }
    }

    // MARK: Suspicion

    private mutating func expireSuspicions(now: Instant, rng: inout some RandomNumberGenerator) {
        guard !suspicions.isEmpty else {
            suspicionWake = nil
            return
        }
        guard let wake = suspicionWake, now >= wake else { return }
        var due: [MemberKey] = []
        var next: Instant?
        for (key, s) in suspicions {
            if now >= s.wake { due.append(key) } else { next = min(next ?? s.wake, s.wake) }
        }
        suspicionWake = next
        for key in due.sorted(by: { ($0.name, $0.generation) < ($1.name, $1.generation) }) {
            guard let s = suspicions[key] else { continue }
            let name = key.name
            guard now >= s.deadline else {
                if now >= s.nextNudgeAt, let m = table[key] {
                    var updated = s
                    updated.nextNudgeAt = now + settings.probeInterval
                    suspicions[key] = updated
                    noteSuspicionWake(updated.wake)
                    let nudge = GossipMessage.accusation(Accusation(kind: .suspect, target: name, generation: m.identity.generation,
                                                                    incarnation: s.incarnation, accuser: identity.name))
                    out.append(.send([nudge], to: m.address, bytes: WireEncoding.packetSize(messageSizes: [WireEncoding.encodedSize(of: nudge)])))
                }
                continue
            }
            suspicions[key] = nil
            guard let m = table[key], m.state == .suspect else { continue }
            let accusation = Accusation(kind: .dead, target: name, generation: m.identity.generation,
                                        incarnation: m.incarnation, accuser: identity.name)
            receive(accusation, now: now, rng: &rng)
        }
    }

    private mutating func noteSuspicionWake(_ at: Instant) {
        suspicionWake = min(suspicionWake ?? at, at)
    }

    private mutating func refute(accusedIncarnation: UInt64, now: Instant, rng: inout some RandomNumberGenerator) {
        guard !hasLeft else { return }
        incarnation = max(incarnation, accusedIncarnation) + 1
        adjustHealth(by: 1)
        selfRecord = Self.sign(MemberRecord(identity: identity, address: address, incarnation: incarnation, status: .alive), signer)
        enqueueMembership(.member(selfRecord), about: identity.name, now: now, rng: &rng)
    }

    private mutating func receive(_ accusation: Accusation, now: Instant, rng: inout some RandomNumberGenerator) {
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
        guard var m = table[MemberKey(name: accusation.target, generation: accusation.generation)],
              accusation.incarnation >= m.incarnation, m.state.isActive else { return }
        if returned.isStale(accuser: accusation.accuser, state: table[accusation.accuser]?.state, now: now, window: staleViewWindow) {
            doubt(accusation, about: m, now: now, rng: &rng)
            return
        }
        switch accusation.kind {
        case .suspect:
            if m.state == .suspect, accusation.incarnation == m.incarnation, var s = suspicions[m.key] {
                // An independent confirmation shortens the suspicion (Lifeguard) and is worth passing on.
                guard s.confirm(by: accusation.accuser) else { return }
                suspicions[m.key] = s
                noteSuspicionWake(s.wake)
                enqueueMembership(.accusation(accusation), about: m.key, now: now, rng: &rng)
                return
            }
            let previous = m.state
            m.state = .suspect
            m.incarnation = accusation.incarnation
            m.stateSince = now
            let n = activeCount + 1
            let minimum = GossipFormulas.suspicionMinimum(mult: settings.suspicionMult, n: n, probeInterval: settings.probeInterval)
            let suspicion = Suspicion(start: now, incarnation: accusation.incarnation, accuser: accusation.accuser,
                                      minimum: minimum, maximum: minimum * settings.suspicionMaxMult,
                                      nextNudgeAt: now + settings.probeInterval,
                                      expectedConfirmations: n - 2 < settings.suspicionConfirmations ? 0 : settings.suspicionConfirmations)
            suspicions[m.key] = suspicion
            noteSuspicionWake(suspicion.wake)
            update(m, previous: previous)
            if previous == .alive {
                searchSiblings(of: m, count: accusation.accuser == identity.name ? settings.indirectChecks : 1, now: now, rng: &rng)
            }
            enqueueMembership(.accusation(accusation), about: m.key, now: now, rng: &rng)
            // Every suspecter tells the suspect directly; a live one answers each with its refutation.
            let direct = GossipMessage.accusation(accusation)
            out.append(.send([direct], to: m.address, bytes: WireEncoding.packetSize(messageSizes: [WireEncoding.encodedSize(of: direct)])))
        case .dead:
            let previous = m.state
            m.state = .dead
            m.incarnation = accusation.incarnation
            m.stateSince = now
            suspicions[m.key] = nil
            update(m, previous: previous)
            enqueueMembership(.accusation(accusation), about: m.key, now: now, rng: &rng)
        }
    }

    /// How long a returned member's accusations are doubted, at the current mesh size.
    private var staleViewWindow: Duration { GossipFormulas.staleViewWindow(settings: settings, n: activeCount + 1) }

    /// An accusation from a view we know to be stale (its accuser is not alive in ours, or came back lately) about
    /// a member we hold active: neither applied nor relayed, wherever the copy came from. If we see the accused
    /// alive we probe it at once, out of turn like a search, and hand it the accusation: a live member refutes, and
    /// its higher incarnation overrides the rumour wherever it went; a dead one misses the probe, and we accuse it
    /// ourselves, so a failure is still found. The searches' budget bounds the probes a flood of rumours starts.
    private mutating func doubt(_ accusation: Accusation, about m: Member, now: Instant, rng: inout some RandomNumberGenerator) {
        guard m.state == .alive, !hasLeft, !isProbing(m.key), searchBudget > 0 else { return }
        searchBudget -= 1
        startProbe(of: m, search: true, telling: accusation, now: now, rng: &rng)
    }

    // MARK: Member records

    private mutating func verified(_ record: SignedMemberRecord) -> Bool {
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
    private mutating func receive(
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
            if newest.identity.generation == key.generation {
                existing = newest
            } else if key.generation > newest.identity.generation {
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
            reprobeBurstUntil = now + settings.deadProbeInterval * 5
            if let at = nextMaintenanceAt, at > now + settings.probeInterval { nextMaintenanceAt = now + settings.probeInterval }
        }
        if let existing, existing.state == .suspect || existing.state == .dead, record.status == .alive, !dead {
            // Back from a partition or a pause: what it says about others is stale for a while.
            returned.noteReturn(of: name, at: now)
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
        if m.state == .alive { suspicions[key] = nil }
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
            suspicions[g.key] = nil
            if g.state.isActive { checkOlderGeneration(g.record, besides: newcomer.record.address, now: now) }
            if g.key != old.key { remove(g.key) }
            if !olderDigests.isEmpty { olderDigests[g.key] = nil }
        }
    }

    private mutating func insert(_ m: Member, rng: inout some RandomNumberGenerator) {
        let name = m.name
        table.set(m)
        if m.state.isActive {
            activeCount += 1
            // A newcomer joins the current probe round at a random place rather than waiting for the next round.
            if probeCursor < probeOrder.count {
                let at = Int.random(in: probeCursor...probeOrder.count, using: &rng)
                probeOrder.insert(name, at: at)
            }
        } else {
            tombstoneCount += 1
        }
        out.append(.memberChanged(m.snapshot, previous: nil))
        if m.state.isActive { reportConflict(over: name) }
    }

    /// Stores `m` (in the place of `replacing`, a predecessor) and reports the change.
    private mutating func update(_ m: Member, previous: MemberState?, force: Bool = false, replacing: MemberKey? = nil) {
        if let replacing { table.replace(replacing, with: m) } else { table.set(m) }
        if let previous, previous.isActive != m.state.isActive {
            activeCount += m.state.isActive ? 1 : -1
            tombstoneCount += m.state.isActive ? -1 : 1
        }
        if previous != m.state || force { out.append(.memberChanged(m.snapshot, previous: previous)) }
        if replacing == nil, m.state.isActive, previous?.isActive == false { reportConflict(over: m.name) }
    }

    private mutating func remove(_ key: MemberKey) {
        guard let m = table.removeValue(forKey: key) else { return }
        if m.state.isActive { activeCount -= 1 } else { tombstoneCount -= 1 }
        suspicions[key] = nil
        if !olderDigests.isEmpty { olderDigests[key] = nil }
    }

    // MARK: Names started twice

    /// A record with this member's own name: its own (relayed back), a predecessor's, or another process's.
    private mutating func receiveNamesake(_ signed: SignedMemberRecord, now: Instant, rng: inout some RandomNumberGenerator) {
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
    private mutating func checkOlderGeneration(_ signed: SignedMemberRecord, besides newcomer: PeerAddress? = nil, now: Instant) {
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
    private mutating func expireGenerationChecks(now: Instant) {
        for record in generationChecks.expire(now: now) {
            let sequence = nextSequence()
            generationChecks.retry(sequence: sequence, record: record, expiresAt: now + settings.probeInterval)
            sendGenerationPing(sequence, to: record)
        }
    }

    /// An older generation answered a ping addressed to it: it runs beside its namesake. It becomes a member of its
    /// own (alive: the answer is fresher than any rumour), and the conflict is reported.
    private mutating func admitOlderGeneration(_ signed: SignedMemberRecord, now: Instant, rng: inout some RandomNumberGenerator) {
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
    private mutating func reportConflict(over name: String) {
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

    // MARK: Digests

    private mutating func receive(
        _ signed: SignedDigest, viaSync: Bool, now: Instant, wallClockMillis: UInt64, rng: inout some RandomNumberGenerator
    ) {
        let d = signed.digest
        let name = d.origin.name
        // Our own digests come only from ourselves; a copy relayed back is old news.
        guard name != identity.name else { return }
        let newest = store[name]
        var stored = newest?.digest.order
        var olderKey: MemberKey?
        if let newest, d.origin.generation < newest.digest.origin.generation {
            // An older generation's digest counts only while that generation runs beside the newer one (a name
            // started twice); otherwise it is a predecessor's, and old news.
            let key = MemberKey(name: name, generation: d.origin.generation)
            guard table.hasOlderGenerations, table[key] != nil else { return }
            olderKey = key
            stored = olderDigests[key]?.digest.order
        }
        // Duplicates and replays of older digests are the common case of epidemic gossip: dropped silently, never
        // relayed, never counted as rejections.
        if let stored, d.order <= stored { return }
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
        if let olderKey {
            olderDigests[olderKey] = signed
        } else {
            if let newest, newest.digest.origin.generation < d.origin.generation, table.hasOlderGenerations {
                // The displaced generation keeps its digest if it still runs beside the newer one.
                let key = MemberKey(name: name, generation: newest.digest.origin.generation)
                if table[key] != nil, table[name]?.identity.generation != key.generation { olderDigests[key] = newest }
            }
            store[name] = signed
        }
        out.append(.digestAccepted(signed))
        disseminate(signed, now: now, rng: &rng)
    }

    /// The largest digest message that is piggybacked; larger ones travel by state sync only.
    private var digestSizeLimit: Int { settings.datagramBudget - 160 }

    private mutating func disseminate(_ signed: SignedDigest, now: Instant, rng: inout some RandomNumberGenerator) {
        let message = GossipMessage.digest(signed)
        let size = WireEncoding.encodedSize(of: message)
        if size <= digestSizeLimit {
            let origin = signed.digest.origin
            // A digest of an older generation held beside a newer one has a queue key of its own (see `olderDigests`).
            let newest = store[origin.name]?.digest.origin.generation ?? origin.generation
            let key = newest > origin.generation ? "d:\(origin.name)#\(origin.generation)" : "d:" + origin.name
            digestQueue.enqueue(message, key: key, size: size)
            scheduleGossip(now: now, rng: &rng)
        } else {
            // Too large for a datagram: push it by state sync to a few members, who do the same on acceptance.
            var chosen: Set<String> = []
            for _ in 0..<settings.gossipFanout {
                guard let peer = randomActive(excluding: chosen, rng: &rng) else { break }
                chosen.insert(peer.identity.name)
                out.append(.startStateSync(with: peer.address))
            }
        }
    }

    // MARK: Dissemination

    private mutating func enqueueMembership(_ message: GossipMessage, about name: String, now: Instant, rng: inout some RandomNumberGenerator) {
        membershipQueue.enqueue(message, key: "m:" + name, size: WireEncoding.encodedSize(of: message))
        scheduleGossip(now: now, rng: &rng)
    }

    /// Queues an update about the member `key`. News of an older generation held beside a newer one (a name started
    /// twice) has a queue key of its own, so that news of one generation never displaces news of the other.
    private mutating func enqueueMembership(_ message: GossipMessage, about key: MemberKey, now: Instant, rng: inout some RandomNumberGenerator) {
        if table.hasOlderGenerations, let newest = table[key.name], newest.identity.generation != key.generation {
            enqueueMembership(message, about: "\(key.name)#\(key.generation)", now: now, rng: &rng)
        } else {
            enqueueMembership(message, about: key.name, now: now, rng: &rng)
        }
    }

    private mutating func scheduleGossip(now: Instant, rng: inout some RandomNumberGenerator) {
        if nextGossipAt == nil { nextGossipAt = now + jitter(settings.gossipInterval, rng: &rng) }
    }

    private var retransmitLimit: Int {
        GossipFormulas.retransmitLimit(mult: settings.retransmitMult, n: activeCount + 1)
    }

    /// Packs `control` and as many pending updates as fit into one datagram and emits it. Membership updates take
    /// at most `membershipShare` of the budget while digests wait, so digests are never starved.
    private mutating func sendWithPiggyback(_ control: [GossipMessage], to target: PeerAddress, now: Instant?, rng: inout some RandomNumberGenerator) {
        var messages = control
        let budget = settings.datagramBudget - WireEncoding.packetHeaderSize
        var used = control.reduce(0) { $0 + WireEncoding.encodedSize(of: $1) }
        let limit = retransmitLimit
        if !membershipQueue.isEmpty || !digestQueue.isEmpty {
            let share = digestQueue.isEmpty ? budget - used : min(budget - used, Int(Double(budget) * settings.membershipShare))
            let first = membershipQueue.take(budget: share, limit: limit)
            messages += first.messages
            used += first.bytes
            let digests = digestQueue.take(budget: budget - used, limit: limit)
            messages += digests.messages
            used += digests.bytes
            if budget - used > 32 {
                let more = membershipQueue.take(budget: budget - used, limit: limit)
                messages += more.messages
                used += more.bytes
            }
        }
        guard !messages.isEmpty else { return }
        // Header: magic (2), version (1), message count as a varint.
        out.append(.send(messages, to: target, bytes: used + 3 + (messages.count < 128 ? 1 : 2)))
    }

    private mutating func gossipRound(rng: inout some RandomNumberGenerator) {
        var chosen: Set<String> = []
        for _ in 0..<settings.gossipFanout {
            guard !(membershipQueue.isEmpty && digestQueue.isEmpty) else { return }
            // Suspects are told of their suspicion directly; gossip goes where it is most likely to travel on.
            guard let peer = randomActive(excluding: chosen, aliveOnly: true, rng: &rng) else { return }
            chosen.insert(peer.identity.name)
            sendWithPiggyback([], to: peer.address, now: nil, rng: &rng)
        }
    }

    /// A random alive or suspect member not in `excluded` nor of cluster `outside`, found by sampling (cheap in
    /// large meshes).
    private func randomActive(
        excluding excluded: Set<String>, aliveOnly: Bool = false, outside cluster: String? = nil, rng: inout some RandomNumberGenerator
    ) -> Member? {
        guard activeCount > excluded.count else { return nil }
        func fits(_ m: Member) -> Bool {
            (aliveOnly ? m.state == .alive : m.state.isActive) && !excluded.contains(m.name) && m.identity.cluster != cluster
        }
        for _ in 0..<32 {
            if let m = table.randomMember(using: &rng), fits(m) { return m }
        }
        // Sampling failed (few active among many tombstones): fall back to a scan.
        return table.members.filter(fits).randomElement(using: &rng)
    }

    // MARK: Maintenance

    /// Probes one dead member again (a healed partition) and drops old tombstones.
    private mutating func maintain(now: Instant, probes: Int, rng: inout some RandomNumberGenerator) {
        if !repairSyncs.isEmpty { repairSyncs = repairSyncs.filter { now - $0.value < settings.deadProbeInterval } }
        if !generationChecks.isEmpty { generationChecks.forget(olderThan: settings.tombstoneTime, now: now) }
        returned.forget(olderThan: staleViewWindow, now: now)
        guard tombstoneCount > 0 else { return }
        var dead: [Member] = []
        var expired: [MemberKey] = []
        for m in table.members where !m.state.isActive {
            if now - m.stateSince > settings.tombstoneTime {
                expired.append(m.key)
            } else if m.state == .dead {
                dead.append(m)
            }
        }
        for key in expired { remove(key) }
        if tombstoneCount > settings.maxTombstones {
            let oldest = table.members.filter { !$0.state.isActive }.sorted { $0.stateSince < $1.stateSince }
            for m in oldest.prefix(tombstoneCount - settings.maxTombstones) { remove(m.key) }
        }
        dead.shuffle(using: &rng)
        for m in dead.prefix(probes) {
            // The ping carries the verdict: a live member refutes at once, and sends its new record straight back.
            let ping = Ping(sequence: nextSequence(), source: identity.name, target: m.identity.name, targetGeneration: m.identity.generation)
            let verdict = Accusation(kind: .dead, target: m.identity.name, generation: m.identity.generation,
                                     incarnation: m.incarnation, accuser: identity.name)
            sendWithPiggyback([.ping(ping), .accusation(verdict)], to: m.address, now: now, rng: &rng)
        }
    }
}

extension GossipCore {
    /// The shell is shedding load (its inbound filter dropped datagrams over a budget, or its backlog was full):
    /// Lifeguard's local health score rises by one, so this member stretches its probe timeouts and periods, the
    /// same as when its own probes go unanswered. Under a flood the acks it misses are likely its own fault, and it
    /// should slow down rather than accuse members that are fine. The shell calls this at most twice a probe
    /// interval while the load lasts; answered probes lower the score again as usual.
    public mutating func onLocalOverload(now: ContinuousClock.Instant) {
        _ = now
        adjustHealth(by: 1)
    }
}
