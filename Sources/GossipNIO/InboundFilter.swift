import MeshCrypto
import NIOCore
import Synchronization
import Wire

/// What the inbound filter lets through: the checks that cost a few comparisons and one table look-up.
struct InboundFilterPolicy: Sendable {
    /// Datagrams shorter than this cannot be genuine (a sealed empty packet, or a bare packet header).
    var minBytes: Int
    /// Datagrams longer than this cannot be genuine (the decoder's own limit, seal included).
    var maxBytes: Int
    /// The bytes every genuine datagram starts with: the seal version, or the wire format's magic and version.
    var prefix: [UInt8]
    /// Datagrams a second each source address may send on average, and at once.
    var ratePerSecond: Int
    var burst: Int
    /// Source addresses with a budget of their own; the rest share one.
    var sources: Int

    /// The policy for a transport: sealed datagrams when there is a mesh key, bare packets otherwise.
    init(transport: GossipTransportSettings) {
        if transport.keyring != nil {
            prefix = [Keyring.sealVersion]
            minBytes = Keyring.overhead + WireEncoding.packetHeaderSize
            maxBytes = WireLimits.datagram.maxPacketBytes + Keyring.overhead
        } else {
            prefix = [WireEncoding.magic.0, WireEncoding.magic.1, WireEncoding.version]
            minBytes = WireEncoding.packetHeaderSize
            maxBytes = WireLimits.datagram.maxPacketBytes
        }
        ratePerSecond = transport.sourceRatePerSecond
        burst = transport.sourceBurst
        sources = transport.sourceTableSize
    }
}

/// Counts of the inbound filter, shared between the event loop (which writes) and the service (which reads).
final class InboundFilterStats: Sendable {
    /// A copy of the counts.
    struct Snapshot: Sendable, Equatable {
        var seen: UInt64 = 0
        var bytes: UInt64 = 0
        var passed: UInt64 = 0
        // One field per drop reason: the filter counts at the flood's rate, a dictionary would hash a string each time.
        var tooShort: UInt64 = 0
        var tooLarge: UInt64 = 0
        var badPrefix: UInt64 = 0
        var badSender: UInt64 = 0
        var overBudget: UInt64 = 0
        var overSharedBudget: UInt64 = 0
        /// Drops by reason: `too_short`, `too_large`, `bad_prefix`, `bad_sender`, `over_budget`, `over_shared_budget`.
        var dropped: [String: UInt64] {
            let all: [(String, UInt64)] = [("too_short", tooShort), ("too_large", tooLarge), ("bad_prefix", badPrefix),
                                           ("bad_sender", badSender), ("over_budget", overBudget), ("over_shared_budget", overSharedBudget)]
            return Dictionary(uniqueKeysWithValues: all.filter { $0.1 > 0 })
        }
        /// Drops that mean this member is shedding load (budgets), as opposed to junk that never had a chance.
        var shed: UInt64 { overBudget + overSharedBudget }
    }

    private let state = Mutex(Snapshot())

    func publish(_ snapshot: Snapshot) { state.withLock { $0 = snapshot } }
    func snapshot() -> Snapshot { state.withLock { $0 } }
}

/// The first handler of the UDP channel: drops, as cheaply as possible and before any allocation or decryption,
/// every datagram that cannot be genuine or exceeds its source's budget, and counts each drop by reason.
///
/// It runs on the event loop, in front of everything that costs: a flood of random bytes dies here at a few
/// comparisons per datagram, and a flood of well-formed (for instance replayed) datagrams from one address is cut
/// to that address's budget before the service opens any of them. Counts are published to `stats` once per read
/// burst (`channelReadComplete`), not per datagram.
final class InboundFilter: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias InboundOut = AddressedEnvelope<ByteBuffer>

    private let policy: InboundFilterPolicy
    private let stats: InboundFilterStats
    private var budgets: SourceBudgets
    private var counts = InboundFilterStats.Snapshot()
    private var dirty = false

    init(policy: InboundFilterPolicy, stats: InboundFilterStats) {
        self.policy = policy
        self.stats = stats
        self.budgets = SourceBudgets(ratePerSecond: policy.ratePerSecond, burst: policy.burst, capacity: policy.sources)
    }

    /// The sources with a budget of their own now (tests).
    var trackedSources: Int { budgets.count }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let datagram = unwrapInboundIn(data)
        counts.seen &+= 1
        counts.bytes &+= UInt64(datagram.data.readableBytes)
        dirty = true
        if check(datagram, nowNanos: context.eventLoop.now.uptimeNanoseconds) {
            counts.passed &+= 1
            context.fireChannelRead(data)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if dirty {
            stats.publish(counts)
            dirty = false
        }
        context.fireChannelReadComplete()
    }

    /// Whether `datagram` passes; a drop is counted under its reason.
    private func check(_ datagram: AddressedEnvelope<ByteBuffer>, nowNanos: UInt64) -> Bool {
        let size = datagram.data.readableBytes
        if size < policy.minBytes {
            counts.tooShort &+= 1
            return false
        }
        if size > policy.maxBytes {
            counts.tooLarge &+= 1
            return false
        }
        let start = datagram.data.readerIndex
        for i in 0..<policy.prefix.count where datagram.data.getInteger(at: start + i, as: UInt8.self) != policy.prefix[i] {
            counts.badPrefix &+= 1
            return false
        }
        guard let source = SourceKey(datagram.remoteAddress) else {
            counts.badSender &+= 1
            return false
        }
        switch budgets.spend(source, nowNanos: Int64(truncatingIfNeeded: nowNanos)) {
        case .pass: return true
        case .overBudget: counts.overBudget &+= 1
        case .overSharedBudget: counts.overSharedBudget &+= 1
        }
        return false
    }
}
