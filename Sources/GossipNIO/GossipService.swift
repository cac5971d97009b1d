import Foundation
import Gossip
import Logging
import MeshCrypto
import NIOCore
import NIOPosix
import ServiceLifecycle
import Wire

/// Runs a `GossipCore` over UDP (gossip) and TCP (state sync) on one port, with the real clock, as a `Service`.
///
/// The actor owns the member (its core) and is the only place it is touched: datagrams, sync messages and timer ticks
/// are fed to it in turn, and its directives are carried out by `GossipMember`, the executor the simulation shares,
/// through a `NetworkShell`. Protocol time comes from the injected clock (the real one unless a test moves time);
/// socket deadlines stay on the real clock. On graceful shutdown the member announces its departure before the
/// sockets close; on cancellation (a crash, as far as the mesh can tell) it just stops.
public actor GossipService: Service {
    private typealias Datagram = AddressedEnvelope<ByteBuffer>

    /// The protocol settings.
    public nonisolated let settings: GossipSettings
    /// The transport settings.
    public nonisolated let transport: GossipTransportSettings
    /// This member's identity.
    public nonisolated let identity: MemberIdentity
    /// Member changes, accepted and rejected digests, in order. Buffers the newest 4,096 if nobody reads.
    public nonisolated let events: AsyncStream<GossipEvent>

    private let signer: (any MessageSigner)?
    private let verifier: RecordVerifier
    let group: any EventLoopGroup
    /// The clock of the protocol's timers.
    let clock: ProtocolClock
    var logger: Logger
    /// The core and its executor, once `run()` has started.
    var member: GossipMember<SystemRandomNumberGenerator>?
    /// Where the member's directives go: the queues, the counters, the member addresses.
    var shell: NetworkShell
    private let sendQueue: AsyncStream<Datagram>
    private var lastTick: ContinuousClock.Instant
    private var lastDropLog: ContinuousClock.Instant?
    private var suppressedDrops = 0
    private var boundPort: Int?
    private var ipv4Only = false
    private var pendingDigests: [SignedDigest] = []
    private let syncQueue: AsyncStream<NetworkShell.SyncOpening>
    private var readyWaiters: [CheckedContinuation<Int, Never>] = []

    // Hardening (see the transport settings for every bound and its reason).
    /// The inbound filter's counts, published by the event loop.
    let filterStats = InboundFilterStats()
    /// Datagrams that passed the filter, members' first.
    let lanes: InboundLanes
    /// State-sync connections being served.
    let syncBudget: SyncConnectionBudget
    /// Nonces and times of the sealed packets admitted recently.
    private var replay: ReplayWindow
    /// Addresses whose packets no key opens.
    var undecryptable: UndecryptableSources
    /// When the service started, when a sealed packet last opened, and the evidence of a key mismatch since.
    var startedAt: ContinuousClock.Instant
    var lastOpenedAt: ContinuousClock.Instant?
    var unopenedSinceOpened: UInt64 = 0
    var peersThatCannotOpen: Set<PeerAddress> = []
    var problem: String?
    /// Load shed so far (filter budgets and full lanes), as last seen by `noteLoad`, and when the core was last told.
    var shedSeen: UInt64 = 0
    var lastOverloadAt: ContinuousClock.Instant?
    var lastShedLog: ContinuousClock.Instant?
    var shedSinceLog: UInt64 = 0
    /// The ring a reload put in place of `transport.keyring` (``replaceKeyring(_:)``); nil: the configured one.
    private var reloadedKeyring: Keyring?
    /// The mesh keyring that seals and opens every packet now.
    var keyring: Keyring? { reloadedKeyring ?? transport.keyring }

    /// Creates the service; nothing is bound until `run()`.
    ///
    /// - Parameters:
    ///   - identity: name, cluster, zone and a generation new at this start (see `freshGeneration()`).
    ///   - signer: the cluster key for this member's own records and digests; nil for a gateway.
    ///   - verifier: checks received records against the trust roster.
    ///   - clock: the clock of the protocol's timers (probes, suspicions, the departure's linger, seed re-resolving);
    ///     the continuous clock, unless a test moves time by hand.
    public init<C: Clock>(
        settings: GossipSettings = GossipSettings(), transport: GossipTransportSettings, identity: MemberIdentity,
        signer: (any MessageSigner)?, verifier: RecordVerifier, logger: Logger = Logger(label: "zone-agent.gossip"),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, clock: C = ContinuousClock()
    ) where C.Instant == ContinuousClock.Instant {
        self.settings = settings
        self.transport = transport
        self.identity = identity
        self.signer = signer
        self.verifier = verifier
        self.logger = logger
        self.group = eventLoopGroup
        self.clock = ProtocolClock(clock)
        lastTick = clock.now
        startedAt = clock.now
        let (events, eventSink) = AsyncStream.makeStream(of: GossipEvent.self, bufferingPolicy: .bufferingNewest(4096))
        let (syncQueue, syncQueueSink) = AsyncStream.makeStream(of: NetworkShell.SyncOpening.self, bufferingPolicy: .bufferingNewest(256))
        let (sendQueue, sendQueueSink) = AsyncStream.makeStream(of: Datagram.self, bufferingPolicy: .bufferingOldest(4096))
        self.events = events
        self.syncQueue = syncQueue
        self.sendQueue = sendQueue
        shell = NetworkShell(keyring: transport.keyring, datagrams: sendQueueSink, syncs: syncQueueSink, events: eventSink, logger: logger)
        lanes = InboundLanes(capacity: transport.inboundLaneCapacity)
        syncBudget = SyncConnectionBudget(maxTotal: transport.maxSyncConnections, maxPerSource: transport.maxSyncConnectionsPerSource)
        replay = ReplayWindow(windowMillis: UInt64(max(0, transport.replayWindow / .milliseconds(1))), capacity: transport.replayCacheSize)
        undecryptable = UndecryptableSources(capacity: 256, logInterval: transport.undecryptableLogInterval)
    }

    /// A generation for a member starting now: wall-clock microseconds, so every restart outranks the last.
    public static func freshGeneration() -> UInt64 {
        UInt64(max(0, Date().timeIntervalSince1970 * 1_000_000))
    }

    // MARK: API for the daemon

    /// Every other member known, tombstones included.
    public func members() -> [MemberSnapshot] { core?.members ?? [] }

    /// Whether this member's last probes went unanswered by everyone (`GossipEvent.cutOff`).
    public func isCutOff() -> Bool { core?.isCutOff ?? false }

    /// This member as the mesh sees it.
    public func selfSnapshot() -> MemberSnapshot? { core?.selfSnapshot }

    /// The newest verified digest of every origin.
    public func digests() -> [SignedDigest] { core?.digests ?? [] }

    /// Traffic and drop counters, the inbound filter's and the state-sync listener's included.
    public func currentCounters() -> GossipCounters {
        var all = shell.counters
        let filter = filterStats.snapshot()
        all.packetsReceived += filter.seen
        all.bytesReceived += filter.bytes
        for (reason, count) in filter.dropped { all.dropped[reason, default: 0] += count }
        let backlog = lanes.droppedForBacklog
        if backlog > 0 { all.dropped["backlog", default: 0] += backlog }
        let refused = syncBudget.refused
        if refused > 0 { all.dropped["sync_refused", default: 0] += refused }
        return all
    }

    /// Why this member cannot take part in the mesh, as a sentence an operator can act on; nil when nothing is
    /// wrong that the transport can see. Today: a member with a mesh key that knows no member while the packets it
    /// hears do not open, or its peers cannot open its packets (another mesh key or mesh name). For `/readyz`.
    public func transportProblem() -> String? { problem }

    /// Source addresses whose packets no key in the ring opens, with how many each (at most 256 addresses,
    /// most packets first): members configured with another mesh key or mesh name.
    public func undecryptableSources() -> [(address: PeerAddress, packets: UInt64)] { undecryptable.counts }

    /// The incarnation to put into this member's next digest.
    public func incarnation() -> UInt64 { core?.incarnation ?? 0 }

    /// When the protocol loop last ran a tick: a health check can tell a wedged loop from a quiet one.
    public func lastTickAt() -> ContinuousClock.Instant { lastTick }

    /// Lifeguard's local health score (0 is healthy).
    public func localHealthScore() -> Int { core?.localHealthScore ?? 0 }

    /// The bound port, once `run()` has bound its sockets (waits until then).
    public func boundGossipPort() async -> Int {
        if let boundPort { return boundPort }
        return await withCheckedContinuation { readyWaiters.append($0) }
    }

    /// Seals and opens with `ring` from the next packet on (a mesh-key rotation, without a restart). Ignored, and
    /// false, for a member started without a mesh key: turning sealing on or off needs a restart of every member.
    @discardableResult
    public func replaceKeyring(_ ring: Keyring) -> Bool {
        guard transport.keyring != nil else { return false }
        reloadedKeyring = ring
        shell.keyring = ring
        return true
    }

    /// Signs `digest` with this member's cluster key and disseminates it; nil for a member without a key.
    @discardableResult
    public func publish(digest: HealthDigest) -> SignedDigest? {
        guard let signer else { return nil }
        let signed = SignedDigest(digest: digest, keyID: signer.keyID, signature: signer.sign(WireEncoding.signedBytes(of: digest)))
        publish(signed)
        return signed
    }

    /// Disseminates an already signed digest of this member.
    public func publish(_ signed: SignedDigest) {
        guard member != nil else {
            pendingDigests.append(signed)
            return
        }
        member?.publish(signed, now: clock.now(), shell: &shell)
    }

    /// Every drain order held (`GossipCore.drains`).
    public func drains() -> [SignedDrain] { core?.drains ?? [] }

    /// Verifies, stores and disseminates an operator's drain order (the admin API's `POST /v1/drains`); the outcome
    /// says whether it was taken. Before the service runs, no order can be taken.
    public func inject(_ drain: SignedDrain) -> DrainOutcome? {
        guard member != nil else { return nil }
        return member?.inject(drain, now: clock.now(), wallClockMillis: Self.wallClockMillis(), shell: &shell)
    }

    /// The core, once `run()` has started it.
    var core: GossipCore? { member?.core }

    // MARK: Running

    typealias SyncChannel = NIOAsyncChannel<ByteBuffer, ByteBuffer>
    private typealias Sockets = (udp: any Channel, server: NIOAsyncChannel<SyncChannel, Never>, bound: SocketAddress, port: Int)

    /// Binds UDP, then TCP on the same port. With port 0 the kernel picks the UDP port, which TCP may already use:
    /// then both are tried again with another port.
    ///
    /// The UDP channel is not an async channel: its pipeline ends in the inbound filter and the lanes, which the
    /// service drains (members first), and the service writes to the channel directly.
    private func bindSockets() async throws -> Sockets {
        var attempt = 0
        let policy = InboundFilterPolicy(transport: transport)
        let stats = filterStats
        let lanes = lanes
        let vector = max(1, transport.vectorReadCount)
        while true {
            attempt += 1
            let udp = try await DatagramBootstrap(group: group)
                .channelOption(.socketOption(.so_reuseaddr), value: 1)
                .channelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(transport.receiveBufferBytes))
                .channelOption(.datagramVectorReadMessageCount, value: vector)
                // Each of the vector's slots gets 2,048 bytes, NIO's default for one datagram.
                .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: vector * 2048))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(InboundFilter(policy: policy, stats: stats))
                        try channel.pipeline.syncOperations.addHandler(InboundLanesHandler(lanes: lanes))
                    }
                }
                .bind(host: transport.bindHost, port: transport.bindPort).get()
            do {
                guard let bound = udp.localAddress, let port = bound.port else {
                    throw GossipTransportError.unresolvableAddress("\(transport.bindHost):\(transport.bindPort)")
                }
                let server = try await bindSyncListener(port: port)
                return (udp, server, bound, port)
            } catch {
                try? await udp.close()
                if transport.bindPort != 0 || attempt >= 5 { throw error }
            }
        }
    }

    /// Binds UDP, TCP, joins the mesh and runs until cancelled or shut down gracefully.
    public func run() async throws {
        let (udp, server, bound, port) = try await bindSockets()
        guard let advertised = transport.advertise ?? PeerAddress(bound), !advertised.isUnspecified else {
            try? await udp.close()
            try? await server.executeThenClose { _ in }
            // Others cannot reach 0.0.0.0: a wildcard bind needs an explicit advertise address (the pod IP).
            throw GossipTransportError.unresolvableAddress("\(bound) (set gossip.advertise when binding a wildcard address)")
        }
        logger[metadataKey: "member"] = "\(identity)"
        shell.logger = logger
        logger.info("gossip listening", metadata: ["udp": "\(bound)", "advertise": "\(advertised)"])
        if transport.keyring == nil {
            logger.warning("no mesh key: gossip packets are neither encrypted nor authenticated, and nothing stops a replay; set keys.mesh")
        }

        defer { lanes.finish() }
        do {
            try await server.executeThenClose { connections in
                try await withThrowingDiscardingTaskGroup { group in
                    // The only writer of the UDP socket; it drains what is queued, the departure included, and ends
                    // when the queue is finished.
                    group.addTask {
                        for await datagram in self.sendQueue { try? await udp.writeAndFlush(datagram) }
                    }
                    await self.start(port: port, advertised: advertised, ipv4Only: bound.protocol == .inet)
                    do {
                        try await cancelWhenGracefulShutdown {
                            try await self.loops(connections: connections)
                        }
                    } catch is CancellationError {
                        // Cancelled: either a graceful shutdown (handled below) or a hard stop.
                    }
                    if !Task.isCancelled {
                        await self.leaveMesh()
                    }
                    self.stop()
                }
            }
        } catch {
            try? await udp.close()
            throw error
        }
        try? await udp.close()
    }

    private func start(port: Int, advertised: PeerAddress, ipv4Only: Bool) async {
        self.ipv4Only = ipv4Only
        shell.sending = true
        startedAt = clock.now()
        boundPort = port
        for waiter in readyWaiters { waiter.resume(returning: port) }
        readyWaiters.removeAll()
        let core = GossipCore(identity: identity, address: advertised, settings: settings, signer: signer, verifier: verifier)
        let seeds = await SeedResolver.resolve(transport.seeds, ipv4Only: ipv4Only)
        var member = GossipMember(core: core, rng: SystemRandomNumberGenerator())
        member.join(seeds: seeds, now: clock.now(), wallClockMillis: Self.wallClockMillis(), shell: &shell)
        self.member = member
        let waiting = pendingDigests
        pendingDigests.removeAll()
        for digest in waiting { publish(digest) }
    }

    private func stop() {
        shell.sending = false
        lanes.finish()
        shell.datagrams.finish()
        shell.syncs.finish()
        shell.events.finish()
    }

    private nonisolated func loops(connections: NIOAsyncChannelInboundStream<SyncChannel>) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                // A batch at a time, members' lane first: one actor hop per batch, not per datagram.
                for await _ in self.lanes.doorbell {
                    while true {
                        let batch = self.lanes.drain(limit: 64)
                        if batch.isEmpty { break }
                        await self.receive(batch)
                    }
                }
            }
            group.addTask {
                try await withThrowingDiscardingTaskGroup { serving in
                    for try await connection in connections {
                        serving.addTask { await self.serveSync(connection) }
                    }
                }
            }
            group.addTask {
                await withDiscardingTaskGroup { syncing in
                    for await opening in self.syncQueue {
                        syncing.addTask { await self.syncWith(opening.conversation, request: opening.request) }
                    }
                }
            }
            group.addTask { try await self.timerLoop() }
            group.addTask { try await self.seedLoop() }
        }
    }

    /// Ticks the core when it asked to be. The loop sleeps until the tick the core asked for, and a packet that
    /// asks for an earlier one wakes it, so an idle member wakes only for its own timers.
    private nonisolated func timerLoop() async throws {
        while !Task.isCancelled {
            let sleep = await self.armSleeper()
            await withTaskCancellationHandler { await sleep.value } onCancel: { sleep.cancel() }
            await self.tickIfDue()
        }
    }

    /// Starts the sleep until the next tick (or a second, when none is asked for: the core always has timers, so
    /// this is only a backstop).
    private func armSleeper() -> Task<Void, Never> {
        let until = member?.nextTick ?? clock.now() + .seconds(1)
        let sleep = clock.sleep
        let task = Task { _ = try? await sleep(until) }
        shell.sleeper = (task, until)
        return task
    }

    private nonisolated func seedLoop() async throws {
        guard !transport.seeds.isEmpty, transport.seeds.contains(where: { PeerAddress($0) == nil }) else { return }
        while !Task.isCancelled {
            try await clock.sleep(clock.now() + transport.seedResolveInterval)
            let seeds = await SeedResolver.resolve(transport.seeds, ipv4Only: await self.ipv4Only)
            await self.updateSeeds(seeds)
        }
    }

    private func updateSeeds(_ seeds: [PeerAddress]) {
        guard !seeds.isEmpty else { return }
        member?.core.setSeeds(seeds)
    }

    /// Runs the member's timers if they are due, with the transport's checks that go with a tick.
    private func tickIfDue(force: Bool = false) {
        let now = clock.now()
        guard member != nil, force || (member?.nextTick.map { $0 <= now } ?? false) else { return }
        lastTick = now
        noteLoad(now: now)
        member?.tick(now: now, wallClockMillis: Self.wallClockMillis(), shell: &shell)
        checkTransport(now: now)
    }

    private func leaveMesh() async {
        guard member != nil else { return }
        logger.info("leaving the mesh")
        member?.leave(now: clock.now(), shell: &shell)
        // Keep gossiping the departure for a moment, so that it outruns any suspicion of our silence.
        let end = clock.now() + transport.leaveLinger
        while clock.now() < end {
            // Cancelled (shutdown escalated): stop at once rather than spin through the rest of the linger.
            do { try await clock.sleep(clock.now() + settings.gossipInterval) } catch { break }
            tickIfDue(force: true)
        }
    }

    // MARK: Datagrams

    /// Opens, checks and decodes a batch of datagrams, then hands them to the core: those carrying an ack first,
    /// so that a member's answers to our probes are never judged late because other packets queued before them.
    private func receive(_ batch: [Datagram]) {
        guard member != nil else { return }
        var decoded: [(messages: [GossipMessage], sender: PeerAddress)] = []
        decoded.reserveCapacity(batch.count)
        let nowMillis = Self.wallClockMillis()
        for datagram in batch {
            guard let sender = PeerAddress(datagram.remoteAddress) else {
                drop("bad_sender")
                continue
            }
            guard let bytes = open(datagram.data, from: sender, nowMillis: nowMillis) else { continue }
            do {
                decoded.append((try WireEncoding.decodePacket(bytes), sender))
                // Only a known member's address earns the first lane: a fresh sealed packet alone could be a replay
                // of one captured on its way to another member.
                if transport.keyring != nil, shell.memberAddresses.contains(sender) { lanes.trust(datagram.remoteAddress) }
            } catch {
                drop(error.reason)
            }
        }
        let acksFirst = decoded.filter { $0.messages.contains(where: \.isAck) } + decoded.filter { !$0.messages.contains(where: \.isAck) }
        for packet in acksFirst {
            member?.receive(packet.messages, from: packet.sender, now: clock.now(), wallClockMillis: Self.wallClockMillis(), shell: &shell)
        }
    }

    /// The plaintext of a datagram or state-sync frame: opened and admitted through the replay window when there
    /// is a mesh key, as is otherwise. Nil (counted, and logged now and then) when it is refused.
    func open(_ buffer: ByteBuffer, from sender: PeerAddress, nowMillis: UInt64) -> [UInt8]? {
        let bytes = Array(buffer.readableBytesView)
        guard let keyring else { return bytes }
        do {
            let plaintext = try keyring.open(bytes, nowMillis: nowMillis, window: &replay)
            lastOpenedAt = clock.now()
            unopenedSinceOpened = 0
            return plaintext
        } catch {
            if case .crypto(.noKeyOpens) = error { noteUndecryptable(from: sender) }
            drop(error.reason)
            return nil
        }
    }

    func drop(_ reason: String) {
        shell.counters.dropped[reason, default: 0] += 1
        let now = clock.now()
        if let last = lastDropLog, now - last < transport.dropLogInterval {
            suppressedDrops += 1
            return
        }
        logger.warning("dropped a gossip packet", metadata: ["reason": "\(reason)", "suppressed": "\(suppressedDrops)"])
        lastDropLog = now
        suppressedDrops = 0
    }

    func seal(_ buffer: ByteBuffer) -> ByteBuffer { shell.seal(buffer) }

    /// Wall-clock milliseconds since the Unix epoch: digest issue times, checked by receivers against their own.
    public static func wallClockMillis() -> UInt64 {
        UInt64(max(0, Date().timeIntervalSince1970 * 1000))
    }
}

/// Runs `operation`, cancelling it and throwing `CancellationError` if it outlasts `timeout`.
func withTimeout<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw CancellationError() }
        return value
    }
}
