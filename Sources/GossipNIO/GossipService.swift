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
/// The actor owns the core and is the only place it is touched: datagrams, sync frames and timer ticks are fed to it
/// in turn, and the directives it returns are carried out here. On graceful shutdown the member announces its
/// departure before the sockets close; on cancellation (a crash, as far as the mesh can tell) it just stops.
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

    private let eventSink: AsyncStream<GossipEvent>.Continuation
    private let signer: (any MessageSigner)?
    private let verifier: RecordVerifier
    private let group: any EventLoopGroup
    private var logger: Logger
    private var core: GossipCore?
    private var rng = SystemRandomNumberGenerator()
    private var sending = false
    private let sendQueue: AsyncStream<Datagram>
    private let sendQueueSink: AsyncStream<Datagram>.Continuation
    private var nextTick: ContinuousClock.Instant?
    private var lastTick = ContinuousClock.now
    /// The timer loop's current sleep and when it ends: cut short when the core asks for an earlier tick.
    private var sleeper: (task: Task<Void, Never>, until: ContinuousClock.Instant)?
    private var counters = GossipCounters()
    private var lastDropLog: ContinuousClock.Instant?
    private var suppressedDrops = 0
    private var boundPort: Int?
    private var ipv4Only = false
    private var pendingDigests: [SignedDigest] = []
    private let syncQueue: AsyncStream<PeerAddress>
    private let syncQueueSink: AsyncStream<PeerAddress>.Continuation
    private var readyWaiters: [CheckedContinuation<Int, Never>] = []

    /// Creates the service; nothing is bound until `run()`.
    ///
    /// - Parameters:
    ///   - identity: name, cluster, zone and a generation new at this start (see `freshGeneration()`).
    ///   - signer: the cluster key for this member's own records and digests; nil for a gateway.
    ///   - verifier: checks received records against the trust roster.
    public init(
        settings: GossipSettings = GossipSettings(), transport: GossipTransportSettings, identity: MemberIdentity,
        signer: (any MessageSigner)?, verifier: RecordVerifier, logger: Logger = Logger(label: "zone-agent.gossip"),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.settings = settings
        self.transport = transport
        self.identity = identity
        self.signer = signer
        self.verifier = verifier
        self.logger = logger
        self.group = eventLoopGroup
        (events, eventSink) = AsyncStream.makeStream(of: GossipEvent.self, bufferingPolicy: .bufferingNewest(4096))
        (syncQueue, syncQueueSink) = AsyncStream.makeStream(of: PeerAddress.self, bufferingPolicy: .bufferingNewest(256))
        (sendQueue, sendQueueSink) = AsyncStream.makeStream(of: Datagram.self, bufferingPolicy: .bufferingOldest(4096))
    }

    /// A generation for a member starting now: wall-clock microseconds, so every restart outranks the last.
    public static func freshGeneration() -> UInt64 {
        UInt64(max(0, Date().timeIntervalSince1970 * 1_000_000))
    }

    // MARK: API for the daemon

    /// Every other member known, tombstones included.
    public func members() -> [MemberSnapshot] { core?.members ?? [] }

    /// This member as the mesh sees it.
    public func selfSnapshot() -> MemberSnapshot? { core?.selfSnapshot }

    /// The newest verified digest of every origin.
    public func digests() -> [SignedDigest] { core?.digests ?? [] }

    /// Traffic and drop counters.
    public func currentCounters() -> GossipCounters { counters }

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
        guard core != nil else {
            pendingDigests.append(signed)
            return
        }
        let directives = core?.onLocalDigest(signed, now: .now, rng: &rng) ?? []
        execute(directives)
    }

    // MARK: Running

    private typealias SyncChannel = NIOAsyncChannel<ByteBuffer, ByteBuffer>
    private typealias Sockets = (udp: NIOAsyncChannel<Datagram, Datagram>, server: NIOAsyncChannel<SyncChannel, Never>, bound: SocketAddress, port: Int)

    /// Binds UDP, then TCP on the same port. With port 0 the kernel picks the UDP port, which TCP may already use:
    /// then both are tried again with another port.
    private func bindSockets() async throws -> Sockets {
        var attempt = 0
        while true {
            attempt += 1
            let udp = try await DatagramBootstrap(group: group)
                .channelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: transport.bindHost, port: transport.bindPort) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<Datagram, Datagram>(wrappingChannelSynchronously: channel)
                    }
                }
            do {
                guard let bound = udp.channel.localAddress, let port = bound.port else {
                    throw GossipTransportError.unresolvableAddress("\(transport.bindHost):\(transport.bindPort)")
                }
                let maxFrame = WireLimits.syncFrame.maxPacketBytes + Keyring.overhead
                let server = try await ServerBootstrap(group: group)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .bind(host: transport.bindHost, port: port) { child in
                        child.eventLoop.makeCompletedFuture {
                            try child.pipeline.syncOperations.addHandler(ByteToMessageHandler(SyncFrameDecoder(maxLength: maxFrame)))
                            try child.pipeline.syncOperations.addHandler(MessageToByteHandler(SyncFrameEncoder()))
                            return try SyncChannel(wrappingChannelSynchronously: child)
                        }
                    }
                return (udp, server, bound, port)
            } catch {
                // An async channel must be closed through executeThenClose, never just dropped.
                try? await udp.executeThenClose { _, _ in }
                if transport.bindPort != 0 || attempt >= 5 { throw error }
            }
        }
    }

    /// Binds the sockets, joins the mesh and runs until cancelled or shut down gracefully.
    public func run() async throws {
        let (udpChannel, server, bound, port) = try await bindSockets()
        guard let advertised = transport.advertise ?? PeerAddress(bound), !advertised.isUnspecified else {
            try? await udpChannel.executeThenClose { _, _ in }
            try? await server.executeThenClose { _ in }
            // Others cannot reach 0.0.0.0: a wildcard bind needs an explicit advertise address (the pod IP).
            throw GossipTransportError.unresolvableAddress("\(bound) (set gossip.advertise when binding a wildcard address)")
        }
        logger[metadataKey: "member"] = "\(identity)"
        logger.info("gossip listening", metadata: ["udp": "\(bound)", "advertise": "\(advertised)"])

        try await udpChannel.executeThenClose { inbound, outbound in
            try await server.executeThenClose { connections in
                try await withThrowingDiscardingTaskGroup { group in
                    // The only writer of the UDP socket; it drains what is queued, the departure included, and ends
                    // when the queue is finished.
                    group.addTask {
                        for await datagram in self.sendQueue { try? await outbound.write(datagram) }
                    }
                    await self.start(port: port, advertised: advertised, ipv4Only: bound.protocol == .inet)
                    do {
                        try await cancelWhenGracefulShutdown {
                            try await self.loops(inbound: inbound, connections: connections)
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
        }
    }

    private func start(port: Int, advertised: PeerAddress, ipv4Only: Bool) async {
        self.ipv4Only = ipv4Only
        sending = true
        boundPort = port
        for waiter in readyWaiters { waiter.resume(returning: port) }
        readyWaiters.removeAll()
        var core = GossipCore(identity: identity, address: advertised, settings: settings, signer: signer, verifier: verifier)
        let seeds = await SeedResolver.resolve(transport.seeds, ipv4Only: ipv4Only)
        let directives = core.join(seeds: seeds, now: .now, wallClockMillis: Self.wallClockMillis(), rng: &rng)
        self.core = core
        execute(directives)
        let waiting = pendingDigests
        pendingDigests.removeAll()
        for digest in waiting { publish(digest) }
    }

    private func stop() {
        sending = false
        sendQueueSink.finish()
        syncQueueSink.finish()
        eventSink.finish()
    }

    private nonisolated func loops(
        inbound: NIOAsyncChannelInboundStream<Datagram>, connections: NIOAsyncChannelInboundStream<NIOAsyncChannel<ByteBuffer, ByteBuffer>>
    ) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                for try await datagram in inbound { await self.receive(datagram) }
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
                    for await peer in self.syncQueue {
                        syncing.addTask { await self.syncWith(peer) }
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
        let until = nextTick ?? .now + .seconds(1)
        let task = Task { _ = try? await Task.sleep(until: until, clock: .continuous) }
        sleeper = (task, until)
        return task
    }

    private nonisolated func seedLoop() async throws {
        guard !transport.seeds.isEmpty, transport.seeds.contains(where: { PeerAddress($0) == nil }) else { return }
        while !Task.isCancelled {
            try await Task.sleep(for: transport.seedResolveInterval)
            let seeds = await SeedResolver.resolve(transport.seeds, ipv4Only: await self.ipv4Only)
            await self.updateSeeds(seeds)
        }
    }

    private func updateSeeds(_ seeds: [PeerAddress]) {
        guard !seeds.isEmpty else { return }
        core?.setSeeds(seeds)
    }

    private func tickIfDue() {
        let now = ContinuousClock.now
        guard core != nil, let due = nextTick, due <= now else { return }
        nextTick = nil
        lastTick = now
        let directives = core?.onTick(now: now, wallClockMillis: Self.wallClockMillis(), rng: &rng) ?? []
        execute(directives)
    }

    private func leaveMesh() async {
        guard core != nil else { return }
        logger.info("leaving the mesh")
        execute(core?.leave(now: .now, rng: &rng) ?? [])
        // Keep gossiping the departure for a moment, so that it outruns any suspicion of our silence.
        let end = ContinuousClock.now + transport.leaveLinger
        while ContinuousClock.now < end {
            // Cancelled (shutdown escalated): stop at once rather than spin through the rest of the linger.
            do { try await Task.sleep(for: settings.gossipInterval) } catch { break }
            nextTick = .now
            tickIfDue()
        }
    }

    // MARK: Datagrams

    private func receive(_ datagram: Datagram) {
        counters.packetsReceived += 1
        counters.bytesReceived += UInt64(datagram.data.readableBytes)
        guard core != nil, let sender = PeerAddress(datagram.remoteAddress) else { return drop("bad_sender") }
        var bytes = Array(datagram.data.readableBytesView)
        if let keyring = transport.keyring {
            do { bytes = try keyring.open(bytes) } catch { return drop("open_failed") }
        }
        let messages: [GossipMessage]
        do { messages = try WireEncoding.decodePacket(bytes) } catch { return drop(error.reason) }
        let directives = core?.onPacket(messages, from: sender, now: .now, wallClockMillis: Self.wallClockMillis(), rng: &rng) ?? []
        execute(directives)
    }

    private func drop(_ reason: String) {
        counters.dropped[reason, default: 0] += 1
        let now = ContinuousClock.now
        if let last = lastDropLog, now - last < transport.dropLogInterval {
            suppressedDrops += 1
            return
        }
        logger.warning("dropped a gossip packet", metadata: ["reason": "\(reason)", "suppressed": "\(suppressedDrops)"])
        lastDropLog = now
        suppressedDrops = 0
    }

    private func seal(_ buffer: ByteBuffer) -> ByteBuffer {
        guard let keyring = transport.keyring else { return buffer }
        return ByteBuffer(bytes: keyring.seal(Array(buffer.readableBytesView)))
    }

    private func execute(_ directives: [GossipDirective]) {
        for directive in directives {
            switch directive {
            case .send(let messages, let target, _):
                guard sending, let address = try? target.socketAddress() else { continue }
                let payload = seal(WireEncoding.encodePacket(messages))
                counters.packetsSent += 1
                counters.bytesSent += UInt64(payload.readableBytes)
                sendQueueSink.yield(AddressedEnvelope(remoteAddress: address, data: payload))
            case .startStateSync(let peer):
                syncQueueSink.yield(peer)
            case .scheduleTick(let at):
                if let current = nextTick, current <= at { continue }
                nextTick = at
                if let sleeper, at < sleeper.until {
                    sleeper.task.cancel()
                    self.sleeper = nil
                }
            case .memberChanged(let snapshot, let previous):
                if snapshot.state == .dead || previous == .dead {
                    logger.info("member changed", metadata: ["peer": "\(snapshot.identity)", "state": "\(snapshot.state)"])
                }
                eventSink.yield(.memberChanged(snapshot, previous: previous))
            case .digestAccepted(let digest):
                eventSink.yield(.digestAccepted(digest))
            case .recordRejected(let rejection):
                counters.dropped["rejected_" + rejection.reason, default: 0] += 1
                eventSink.yield(.recordRejected(rejection))
            case .nameConflict(let conflict):
                eventSink.yield(.nameConflict(conflict))
            }
        }
    }

    // MARK: State sync

    private func frame(_ messages: [GossipMessage]) -> ByteBuffer {
        let payload = seal(WireEncoding.encodePacket(messages))
        counters.bytesSent += UInt64(payload.readableBytes + 4)
        return payload
    }

    private func unframe(_ buffer: ByteBuffer) -> [GossipMessage]? {
        counters.bytesReceived += UInt64(buffer.readableBytes + 4)
        var bytes = Array(buffer.readableBytesView)
        if let keyring = transport.keyring {
            do { bytes = try keyring.open(bytes) } catch {
                drop("open_failed")
                return nil
            }
        }
        do { return try WireEncoding.decodePacket(bytes, limits: .syncFrame) } catch {
            drop(error.reason)
            return nil
        }
    }

    private func merge(_ messages: [GossipMessage], from peer: PeerAddress) -> [GossipMessage] {
        guard let result = core?.onStateSync(messages, from: peer, now: .now, wallClockMillis: Self.wallClockMillis(), rng: &rng) else {
            return []
        }
        execute(result.directives)
        return result.reply
    }

    private func syncRequest() -> ByteBuffer? {
        guard let core else { return nil }
        return frame(core.stateSyncRequest())
    }

    private func countSync(success: Bool) {
        if success { counters.syncsCompleted += 1 } else { counters.syncsFailed += 1 }
    }

    /// Opens a state sync with `peer`: our summary, their summary and what we lack, then what they lack.
    private nonisolated func syncWith(_ peer: PeerAddress) async {
        let ok: Bool
        do {
            ok = try await withTimeout(transport.syncTimeout) {
                let address = try peer.socketAddress()
                let maxFrame = WireLimits.syncFrame.maxPacketBytes + Keyring.overhead
                let channel = try await ClientBootstrap(group: self.group)
                    .connectTimeout(.seconds(2))
                    .connect(to: address) { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(SyncFrameDecoder(maxLength: maxFrame)))
                            try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(SyncFrameEncoder()))
                            return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                        }
                    }
                return try await channel.executeThenClose { inbound, outbound in
                    guard let request = await self.syncRequest() else { return false }
                    try await outbound.write(request)
                    var frames = inbound.makeAsyncIterator()
                    guard let replyFrame = try await frames.next() else { throw GossipTransportError.syncClosedEarly(peer) }
                    guard let reply = await self.unframe(replyFrame) else { return false }
                    let final = await self.merge(reply, from: peer)
                    if !final.isEmpty { try await outbound.write(await self.frame(final)) }
                    return true
                }
            }
        } catch {
            ok = false
        }
        await countSync(success: ok)
    }

    /// Answers a state sync another member opened.
    private nonisolated func serveSync(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        let remote = connection.channel.remoteAddress.flatMap { PeerAddress($0) }
        let ok: Bool
        do {
            ok = try await withTimeout(transport.syncTimeout) {
                try await connection.executeThenClose { inbound, outbound in
                    guard let remote else { return false }
                    var served = false
                    for try await frameBuffer in inbound {
                        guard let messages = await self.unframe(frameBuffer) else { return false }
                        let reply = await self.merge(messages, from: remote)
                        served = true
                        if !reply.isEmpty { try await outbound.write(await self.frame(reply)) }
                    }
                    return served
                }
            }
        } catch {
            ok = false
        }
        await countSync(success: ok)
    }

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
