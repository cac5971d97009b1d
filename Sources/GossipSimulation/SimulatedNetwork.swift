import Gossip
import MeshCrypto
import NIOCore
import SeededRandom
import Wire

/// Many gossip cores in one process on a virtual network: a virtual clock, seeded randomness, latency, loss,
/// partitions, and members that are killed, paused or restarted.
///
/// Nothing here reads a real clock or sleeps: time jumps from one event to the next, so minutes of protocol run in
/// milliseconds, and a seed fixes the whole run.
public final class SimulatedNetwork {
    /// The conditions of every link: one-way latency, uniform jitter around it, and the loss rate of datagrams.
    public struct Link: Sendable {
        /// The mean one-way delay.
        public var latency: Duration
        /// The delay varies uniformly within ± this.
        public var jitter: Duration
        /// The share of datagrams lost, 0…1 (streams are reliable).
        public var loss: Double

        /// Creates link conditions.
        public init(latency: Duration = .milliseconds(1), jitter: Duration = .microseconds(500), loss: Double = 0) {
            self.latency = latency
            self.jitter = jitter
            self.loss = loss
        }
    }

    /// Which signatures the members make: real Ed25519, or a cheap checksum for large meshes.
    public enum Crypto: Sendable {
        case ed25519
        case checksum
    }

    enum Status { case running, paused, killed }

    struct Node {
        var member: GossipMember<SplitMix64>
        var status: Status
        var inbox: [Event] = []
        var restarts: UInt64 = 0
    }

    enum Event {
        case tick(node: Int)
        case packet(to: Int, from: PeerAddress, messages: [GossipMessage], encoded: ByteBuffer?)
        /// A state-sync message over the (reliable) stream `stream`.
        case sync(to: Int, from: Int, stream: SyncStream, messages: [GossipMessage])
    }

    /// An event's place in the queue. The heap moves only these plain values; the events themselves stay put in
    /// `pending`, which at 10,000 members is most of the simulation's time saved. The time is in nanoseconds since
    /// the epoch (`heapTime`): an instant is opaque outside the standard library, so each copy and comparison of one
    /// is a call, which was a tenth of the simulation's time.
    struct Scheduled {
        var at: Int64
        var serial: UInt64
        var slot: Int
    }

    /// The simulation's start; every reported time is measured from here.
    public let epoch: ContinuousClock.Instant
    /// The virtual present.
    public internal(set) var now: ContinuousClock.Instant
    /// The wall clock of the virtual present, in milliseconds since the Unix epoch (fixed start, for digests).
    public var wallClockMillis: UInt64 { wallClockBase + UInt64(max(0, milliseconds(now - epoch))) }
    /// The conditions of every link; may change during a run.
    public var link: Link
    /// Whether every datagram is encoded and decoded with the wire codec (slower; proves the codec in the loop).
    public var encodePackets: Bool
    /// Whether state-sync frames are sized with the codec for `bytesSent` (costly for large summaries).
    public var countSyncBytes = true
    /// Threads that run members at once (`runWindow`); 1 runs one event at a time. The outcome of a seed is the same
    /// for every count above 1, but differs from a run of 1 (the network draws loss and delay in another order).
    public var workers = 1
    /// Events a window must hold to be shared out among `workers` threads (tests lower it to make threads work).
    var minimumParallelBatch = 32
    /// Called for every member change, accepted digest and rejection, in virtual-time order.
    public var onEvent: ((SimulationEvent) -> Void)?
    /// Called for every datagram a member sends (before loss), with the sender's index: for tracing in tests.
    public var onSend: ((Int, [GossipMessage], PeerAddress) -> Void)?
    /// Called when a member reports a name started twice, with the reporter's index and the time.
    public var onNameConflict: ((Int, NameConflict, Duration) -> Void)?
    /// The settings every member runs with.
    public let settings: GossipSettings
    /// The trust roster of the simulated clusters.
    public let roster: TrustRoster
    /// Bytes each member has sent (datagrams, and state-sync frames if `countSyncBytes`).
    public private(set) var bytesSent: [UInt64]
    /// Datagrams each member has sent.
    public private(set) var packetsSent: [UInt64]
    /// Bytes of state-sync frames all members have sent (counted in `bytesSent` too), if `countSyncBytes`.
    public private(set) var syncBytesSent: UInt64 = 0

    let wallClockBase: UInt64 = 1_800_000_000_000
    var nodes: [Node] = []
    /// Each member's name and cluster: `m<i>` in cluster `i mod clusters`, except a namesake's; -1 for a gateway
    /// (no cluster, no signing key).
    private var names: [String] = []
    private var clusterOf: [Int] = []
    private var byAddress: [PeerAddress: Int] = [:]
    var heap: [Scheduled] = []
    private var pending: [Event?] = []
    private var freeSlots: [Int] = []
    private var serial: UInt64 = 0
    private var rng: SplitMix64
    private var group: [Int]? = nil
    private let signers: [any MessageSigner]
    /// The operator key the roster lists under `operators`: it signs drain orders (`drain(_:at:)`).
    public let operatorSigner: any MessageSigner
    private let verifier: RecordVerifier
    private let memo = VerificationMemo(capacity: 1_000_000)
    private let clusterCount: Int

    /// Creates `count` members (not yet joined) named `m0`, `m1`, … in `clusters` clusters, at 127.x.y.z:7946; the
    /// last `gateways` of them belong to no cluster, as gateways do. `signatureVerifier` replaces the one `crypto`
    /// implies (to count or fault verifications in tests).
    public init(
        count: Int, settings: GossipSettings = GossipSettings(), seed: UInt64 = 1, link: Link = Link(),
        clusters: Int = 2, gateways: Int = 0, crypto: Crypto = .ed25519, encodePackets: Bool = true,
        signatureVerifier: (any SignatureVerifier)? = nil
    ) {
        self.settings = settings
        self.link = link
        self.encodePackets = encodePackets
        self.rng = SplitMix64(seed: seed)
        self.clusterCount = max(1, clusters)
        let base = ContinuousClock.now
        self.epoch = base
        self.now = base
        var signers: [any MessageSigner] = []
        var keys: [String: [PublicKey]] = [:]
        for c in 0..<clusterCount {
            switch crypto {
            case .ed25519:
                let pair = (try? SigningKeyPair(seed: [UInt8](repeating: UInt8(c + 1), count: 32))) ?? SigningKeyPair.generate()
                signers.append(pair)
                keys["c\(c)"] = [pair.publicKey]
            case .checksum:
                let signer = ChecksumSigner(seed: UInt8(c + 1))
                signers.append(signer)
                keys["c\(c)"] = [signer.publicKey]
            }
        }
        self.signers = signers
        switch crypto {
        case .ed25519:
            let pair = (try? SigningKeyPair(seed: [UInt8](repeating: 200, count: 32))) ?? SigningKeyPair.generate()
            operatorSigner = pair
            self.roster = TrustRoster(keys, operators: [pair.publicKey])
        case .checksum:
            let signer = ChecksumSigner(seed: 200)
            operatorSigner = signer
            self.roster = TrustRoster(keys, operators: [signer.publicKey])
        }
        self.verifier = RecordVerifier(
            roster: roster, verifier: signatureVerifier ?? (crypto == .ed25519 ? Ed25519Verifier() : ChecksumVerifier()))
        self.bytesSent = Array(repeating: 0, count: count)
        self.packetsSent = Array(repeating: 0, count: count)
        for i in 0..<count {
            names.append(Self.name(of: i))
            clusterOf.append(i >= count - gateways ? -1 : i % clusterCount)
            let node = makeNode(i, generation: 1)
            nodes.append(node)
            byAddress[Self.address(of: i)] = i
        }
    }

    /// The number of members, killed ones included.
    public var count: Int { nodes.count }

    /// The address of member `i`.
    public static func address(of i: Int) -> PeerAddress {
        PeerAddress(host: .v4(0x7F00_0000 | UInt32(i + 1)), port: 7946)
    }

    /// The name of member `i`.
    public static func name(of i: Int) -> String { "m\(i)" }

    /// Member `i`'s core, as it stands.
    public func core(_ i: Int) -> GossipCore { nodes[i].member.core }

    /// Whether member `i` has been killed (and not restarted).
    public func isKilled(_ i: Int) -> Bool { nodes[i].status == .killed }

    /// The signer of cluster `c`, to make digests or forgeries in tests.
    public func signer(ofCluster c: Int) -> any MessageSigner { signers[c] }

    /// Time since the start of the simulation.
    public var elapsed: Duration { now - epoch }

    private func makeNode(_ i: Int, generation: UInt64) -> Node {
        let cluster = clusterOf[i]
        let identity = cluster < 0
            ? MemberIdentity(name: names[i], cluster: "", zone: "", generation: generation)
            : MemberIdentity(name: names[i], cluster: "c\(cluster)", zone: "z\(cluster)", generation: generation)
        let core = GossipCore(identity: identity, address: Self.address(of: i), settings: settings,
                              signer: cluster < 0 ? nil : signers[cluster], verifier: verifier, memo: memo)
        var seedRNG = rng
        let nodeSeed = seedRNG.next() ^ UInt64(i) &* 0x9E37_79B9 ^ generation
        rng = seedRNG
        return Node(member: GossipMember(core: core, rng: SplitMix64(seed: nodeSeed)), status: .running)
    }

    // MARK: Forming the mesh

    /// Every member joins through `seeds` (indices), one after another `stagger` apart; the seeds start first.
    public func joinAll(seeds: [Int] = [0], stagger: Duration = .milliseconds(10)) {
        let seedAddresses = seeds.map { Self.address(of: $0) }
        for i in 0..<nodes.count {
            join(i, seeds: seedAddresses)
            run(for: stagger)
        }
    }

    /// Member `i` joins through `seeds`.
    public func join(_ i: Int, seeds: [PeerAddress]) {
        let (now, wall) = (now, wallClockMillis)
        step(i) { $0.join(seeds: seeds, now: now, wallClockMillis: wall, shell: &$1) }
    }

    /// Member `i` leaves gracefully (and keeps running until killed, as a shell would for a moment).
    public func leave(_ i: Int) {
        let now = now
        step(i) { $0.leave(now: now, shell: &$1) }
    }

    // MARK: Faults

    /// Kills member `i`: it stops at once, sends nothing and receives nothing (SIGKILL).
    public func kill(_ i: Int) {
        nodes[i].status = .killed
        nodes[i].inbox.removeAll()
    }

    /// Pauses member `i`: it runs no timers, and what arrives waits in its socket buffer (SIGSTOP).
    public func pause(_ i: Int) {
        if nodes[i].status == .running { nodes[i].status = .paused }
    }

    /// Resumes a paused member: it handles what waited, then its overdue timers (SIGCONT).
    public func resume(_ i: Int) {
        guard nodes[i].status == .paused else { return }
        nodes[i].status = .running
        let inbox = nodes[i].inbox
        nodes[i].inbox.removeAll()
        for event in inbox { handle(event) }
        tickIfDue(i)
    }

    /// Starts a second process under member `i`'s name and cluster (a node name started twice): a new member, at an
    /// address of its own, with a generation newer than `i`'s, not joined yet. Returns its index.
    public func addNamesake(of i: Int) -> Int {
        let j = nodes.count
        names.append(names[i])
        clusterOf.append(clusterOf[i])
        bytesSent.append(0)
        packetsSent.append(0)
        var node = makeNode(j, generation: nodes[i].member.core.identity.generation + 1)
        node.restarts = nodes[i].restarts + 1
        nodes.append(node)
        byAddress[Self.address(of: j)] = j
        return j
    }

    /// Restarts member `i` with the same name and address and a new generation, joining through `seeds`.
    public func restart(_ i: Int, seeds: [PeerAddress]) {
        let restarts = nodes[i].restarts + 1
        var node = makeNode(i, generation: 1 + restarts)
        node.restarts = restarts
        nodes[i] = node
        join(i, seeds: seeds)
    }

    /// Splits the network: members in different groups cannot reach each other; members in no group reach no one.
    public func partition(_ groups: [[Int]]) {
        var g = Array(repeating: -1, count: nodes.count)
        for (index, members) in groups.enumerated() { for m in members { g[m] = index } }
        group = g
    }

    /// Ends any partition.
    public func heal() { group = nil }

    /// Members whose state syncs cross any partition, in both directions on the connection they open: the drill's
    /// cut on one loopback, whose packet filter matches the members' gossip addresses while the streams they open
    /// leave from 127.0.0.1. Empty by default: a partition cuts streams as well as datagrams.
    public var streamsCrossPartitionFrom: Set<Int> = []

    private func reachable(_ a: Int, _ b: Int) -> Bool {
        guard let group else { return true }
        return group[a] >= 0 && group[a] == group[b]
    }

    // MARK: Digests and injected traffic

    /// Member `i` issues and publishes a signed digest of its cluster's endpoints.
    @discardableResult
    public func publishDigest(from i: Int, version: UInt64, endpoints: [EndpointHealth]) -> SignedDigest {
        let core = nodes[i].member.core
        let digest = HealthDigest(origin: core.identity, incarnation: core.incarnation, version: version,
                                  issuedAtMillis: wallClockMillis, endpoints: endpoints)
        precondition(clusterOf[i] >= 0, "a gateway has no cluster key to sign a digest with")
        let signer = signers[clusterOf[i]]
        let signed = SignedDigest(digest: digest, keyID: signer.keyID, signature: signer.sign(WireEncoding.signedBytes(of: digest)))
        let now = now
        step(i) { $0.publish(signed, now: now, shell: &$1) }
        return signed
    }

    /// Delivers `messages` to member `i` as if a datagram came from `sender` (an attacker, a replay).
    public func inject(_ messages: [GossipMessage], to i: Int, from sender: PeerAddress) {
        push(now, .packet(to: i, from: sender, messages: messages, encoded: nil))
    }

    // MARK: Running

    /// Runs the simulation for `duration` of virtual time.
    public func run(for duration: Duration) {
        let end = now + duration
        let last = heapTime(end)
        while let first = heap.first, first.at <= last {
            if workers > 1, let lookahead = windowLookahead {
                runWindow(from: first.at, lookahead: lookahead, through: last)
            } else {
                now = instant(first.at)
                handle(popEvent())
            }
        }
        now = end
    }

    /// Runs until `condition` holds (checked every `step`) or `limit` passes; returns the time it took, or nil.
    public func run(until condition: () -> Bool, step: Duration = .milliseconds(10), limit: Duration) -> Duration? {
        let start = now
        while now - start < limit {
            if condition() { return now - start }
            run(for: step)
        }
        return condition() ? now - start : nil
    }

    private func tickIfDue(_ i: Int) {
        guard nodes[i].status == .running else { return }
        let (now, wall) = (now, wallClockMillis)
        step(i) { $0.tickIfDue(now: now, wallClockMillis: wall, shell: &$1) }
    }

    /// Runs one step of member `i` (`body` calls one of its inputs), then carries out what it asked for. The network
    /// acts once the step is over, so callbacks may read any member, the stepping one included.
    /// Runs `body` on member `i` and delivers what it sent (also for the extensions in other files).
    func step(_ i: Int, _ body: (inout GossipMember<SplitMix64>, inout SimulatedOutbox) -> Void) {
        var outbox = SimulatedOutbox()
        body(&nodes[i].member, &outbox)
        apply(outbox.actions, from: i)
    }

    /// Carries out what member `i` asked for in one step, at `now`.
    func apply(_ actions: [SimulatedOutbox.Action], from i: Int) {
        for action in actions { apply(action, from: i) }
    }

    /// Carries out one thing member `i` asked for, at `now`.
    func apply(_ action: SimulatedOutbox.Action, from i: Int) {
        let at = now - epoch
        switch action {
        case .send(let messages, let bytes, let target):
            bytesSent[i] += UInt64(bytes)
            packetsSent[i] += 1
            onSend?(i, messages, target)
            guard let j = byAddress[target], reachable(i, j) else { return }
            if link.loss > 0, rng.nextUnit() < link.loss { return }
            let arrival = now + delay()
            // A killed member would drop it on arrival: dropped here instead, after the network's draws, so that a seed
            // runs as before. (While a cluster fails, every survivor tells each suspect of its suspicion once a period,
            // most of a simulated mesh's datagrams.) A member restarted within the link delay misses it.
            guard nodes[j].status != .killed else { return }
            let encoded = encodePackets ? WireEncoding.encodePacket(messages) : nil
            push(arrival, .packet(to: j, from: Self.address(of: i), messages: encodePackets ? [] : messages, encoded: encoded))
        case .openStateSync(let conversation, let request):
            guard let j = byAddress[conversation.peer] else { return }
            let stream = SyncStream(opener: i, responder: j, openerSide: conversation,
                                    responderSide: StateSyncConversation(answering: Self.address(of: i)))
            sendSync(from: i, to: j, stream: stream, messages: request)
        case .wake(let time):
            push(time, .tick(node: i))
        case .event(.memberChanged(let snapshot, let previous)):
            onEvent?(.memberChanged(observer: i, member: snapshot, previous: previous, at: at))
        case .event(.digestAccepted(let digest, _)):
            onEvent?(.digestAccepted(observer: i, digest: digest, at: at))
        case .event(.drainAccepted(let drain)):
            onEvent?(.drainAccepted(observer: i, drain: drain, at: at))
        case .event(.recordRejected(let rejection)):
            onEvent?(.recordRejected(observer: i, rejection: rejection, at: at))
        case .event(.nameConflict(let conflict)):
            onNameConflict?(i, conflict, at)
        case .event(.cutOff(let cut)):
            onEvent?(.cutOff(observer: i, cutOff: cut, at: at))
        }
    }

    func sendSync(from i: Int, to j: Int, stream: SyncStream, messages: [GossipMessage]) {
        if countSyncBytes {
            let bytes = UInt64(WireEncoding.packetSize(messageSizes: messages.map { WireEncoding.encodedSize(of: $0) }))
            bytesSent[i] += bytes
            syncBytesSent += bytes
        }
        // A stream is reliable but needs a path: across a partition the connection fails.
        guard reachable(i, j) || streamsCrossPartitionFrom.contains(stream.opener) else { return }
        push(now + delay() * 2, .sync(to: j, from: i, stream: stream, messages: messages))
    }

    private func delay() -> Duration {
        let jitterMicros = milliseconds(link.jitter) * 1000
        guard jitterMicros > 0 else { return link.latency }
        let offset = Int64(rng.nextUnit() * Double(2 * jitterMicros)) - jitterMicros
        return max(.zero, link.latency + .microseconds(offset))
    }

    func milliseconds(_ d: Duration) -> Int64 {
        let c = d.components
        return c.seconds * 1000 + c.attoseconds / 1_000_000_000_000_000
    }

    // MARK: Event heap

    private func push(_ time: ContinuousClock.Instant, _ event: Event) {
        serial += 1
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
            pending[slot] = event
        } else {
            slot = pending.count
            pending.append(event)
        }
        heap.append(Scheduled(at: heapTime(time), serial: serial, slot: slot))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard earlier(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    func popEvent() -> Event {
        let top = heap[0]
        // The slot is filled from push until here: taking it out leaves nil behind.
        guard let event = pending[top.slot].take() else { preconditionFailure("scheduled event \(top.slot) is missing") }
        freeSlots.append(top.slot)
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                let right = left + 1
                var smallest = parent
                if left < heap.count, earlier(heap[left], heap[smallest]) { smallest = left }
                if right < heap.count, earlier(heap[right], heap[smallest]) { smallest = right }
                if smallest == parent { break }
                heap.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return event
    }

    private func earlier(_ a: Scheduled, _ b: Scheduled) -> Bool {
        a.at != b.at ? a.at < b.at : a.serial < b.serial
    }

    /// `t` in whole nanoseconds since the epoch, rounded up: an event never comes up before its instant (a tick
    /// taken a fraction early would not be due, and the member would sleep).
    func heapTime(_ t: ContinuousClock.Instant) -> Int64 {
        let c = (t - epoch).components
        let nanos = c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000
        return c.attoseconds % 1_000_000_000 > 0 ? nanos + 1 : nanos
    }

    /// The instant `heapTime` stands for.
    func instant(_ at: Int64) -> ContinuousClock.Instant { epoch + .nanoseconds(at) }
}
