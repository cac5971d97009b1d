import Gossip
import MeshCrypto
import Wire

/// Where and how the gossip service talks: sockets, seeds, the mesh key and timeouts. The protocol's timing lives
/// in `GossipSettings`.
public struct GossipTransportSettings: Sendable {
    /// The host to bind the UDP socket and the state-sync TCP listener on (`gossip.bind`'s host).
    public var bindHost: String
    /// The port of both sockets; 0 picks a free one (tests).
    public var bindPort: Int
    /// The address other members reach this one at (`gossip.advertise`); nil: the bound address.
    public var advertise: PeerAddress?
    /// Seed members as `host:port`; host names are resolved to all their addresses, and re-resolved now and then.
    public var seeds: [String]
    /// When set, every datagram and state-sync frame is sealed with the mesh key.
    public var keyring: Keyring?
    /// How long a state sync may take, connection included.
    public var syncTimeout: Duration
    /// How often seed names are resolved again (pods behind a headless Service come and go).
    public var seedResolveInterval: Duration
    /// How long the service keeps gossiping its departure before closing its sockets.
    public var leaveLinger: Duration
    /// At most one log line per this interval for dropped packets (counters record them all).
    public var dropLogInterval: Duration

    // Hardening against floods, replays and hostile state-sync connections. Plain properties with documented
    // defaults rather than initialiser parameters: they are tuned in tests and benchmarks, not in configuration.

    /// How far a sealed packet's timestamp may be from our clock, either way (10 s). NTP keeps a region's clocks
    /// within a few milliseconds and well under a second even when degraded; 10 s tolerates a badly drifting node
    /// (its packets are refused beyond that, and counted as `seal_stale` / `seal_future`) and bounds how long
    /// nonces must be remembered.
    public var replayWindow: Duration = .seconds(10)
    /// Nonces remembered to refuse replays inside the window (32,768, about 1.3 MB). Only packets that opened
    /// enter, so only members fill it: 32,768 over 2 × 10 s is 1,600 genuine packets a second, ~50× what a member
    /// receives at the `lan` profile, and over 3× what it receives while news of a failed cluster is pushed in bursts
    /// (`GossipSettings.gossipBurst`: about 3 members a round push to it, at most 16 datagrams each, so ~500 a
    /// second at `lan` while the backlog lasts). At the bound the window shrinks, replays stay refused (see
    /// `ReplayWindow`).
    public var replayCacheSize = 32_768
    /// Datagrams a second one source IP address may send on average (1,000): about 10× what one member sends
    /// another at the `fast` profile's peak (gossip every 20 ms, probes, acks, relays), with room for a few
    /// members behind one address. The service opens 1,000 sealed datagrams in about 2 ms.
    public var sourceRatePerSecond = 1_000
    /// Datagrams one source may send at once (2,000: two seconds' worth, for a leave or join burst).
    public var sourceBurst = 2_000
    /// Source addresses with a budget of their own (4,096: above any mesh we run; the rest share one budget).
    public var sourceTableSize = 4_096
    /// Datagrams waiting for the service, per lane (1,024: about 0.5 ms of the service's work; more would only
    /// make acks late).
    public var inboundLaneCapacity = 1_024
    /// The UDP socket's receive buffer (4 MiB): at a flood's rate a default buffer overflows between two reads,
    /// and the kernel then drops genuine and hostile datagrams alike.
    public var receiveBufferBytes = 4 << 20
    /// Datagrams read per system call (recvmmsg; 64): fewer system calls per datagram under a flood.
    public var vectorReadCount = 64
    /// State-sync connections served at once (16), and from one source IP address (4). A member opens about one
    /// sync per sync interval; beyond these a connection is closed at once and counted (`sync_refused`).
    public var maxSyncConnections = 16
    public var maxSyncConnectionsPerSource = 4
    /// Plaintext bytes per sealed state-sync chunk (64 KiB): each is opened before the next is read, so an
    /// unauthenticated peer gets at most one chunk into memory.
    public var syncChunkBytes = 64 << 10
    /// How long a state-sync peer has to send its first (small, sealed) frame (1 s, a LAN round trip many times).
    public var syncHelloTimeout: Duration = .seconds(1)
    /// How long a member with a mesh key may know no member while the packets it hears do not open, or its peers
    /// say they cannot open its packets, before it reports a transport problem (10 s: several join attempts).
    public var keyProblemAfter: Duration = .seconds(10)
    /// At most one log line per source address and interval for packets that no key opens (60 s).
    public var undecryptableLogInterval: Duration = .seconds(60)

    /// Creates transport settings; durations default to values suited to a LAN.
    public init(
        bindHost: String, bindPort: Int, advertise: PeerAddress? = nil, seeds: [String] = [], keyring: Keyring? = nil,
        syncTimeout: Duration = .seconds(5), seedResolveInterval: Duration = .seconds(30), leaveLinger: Duration = .milliseconds(300),
        dropLogInterval: Duration = .seconds(10)
    ) {
        self.bindHost = bindHost
        self.bindPort = bindPort
        self.advertise = advertise
        self.seeds = seeds
        self.keyring = keyring
        self.syncTimeout = syncTimeout
        self.seedResolveInterval = seedResolveInterval
        self.leaveLinger = leaveLinger
        self.dropLogInterval = dropLogInterval
    }
}

extension GossipTransportSettings {
    /// Transport settings from the configuration file's `gossip:` keys: `bind` and `advertise` as `host:port`
    /// (advertise numeric), `join` as `host:port` seeds whose hosts may be DNS names.
    public init(bind: String, advertise: String? = nil, join: [String] = [], keyring: Keyring? = nil) throws(GossipTransportError) {
        guard let colon = bind.lastIndex(of: ":"), let port = Int(bind[bind.index(after: colon)...]), (0...65_535).contains(port) else {
            throw .unresolvableAddress(bind)
        }
        var host = String(bind[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        var advertised: PeerAddress?
        if let advertise {
            guard let parsed = PeerAddress(advertise) else { throw .unresolvableAddress(advertise) }
            advertised = parsed
        }
        for seed in join {
            guard let c = seed.lastIndex(of: ":"), UInt16(seed[seed.index(after: c)...]) != nil, c > seed.startIndex else {
                throw .unresolvableAddress(seed)
            }
        }
        self.init(bindHost: host, bindPort: port, advertise: advertised, seeds: join, keyring: keyring)
    }
}

/// Traffic counters of one gossip service, for metrics.
public struct GossipCounters: Sendable, Equatable {
    /// Bytes written to UDP and state-sync streams, seals included.
    public var bytesSent: UInt64 = 0
    /// Bytes read from UDP and state-sync streams.
    public var bytesReceived: UInt64 = 0
    /// Datagrams sent.
    public var packetsSent: UInt64 = 0
    /// Datagrams received, dropped ones included.
    public var packetsReceived: UInt64 = 0
    /// State syncs completed, as initiator or responder.
    public var syncsCompleted: UInt64 = 0
    /// State syncs that failed (connection, timeout, bad frame).
    public var syncsFailed: UInt64 = 0
    /// Packets and frames dropped, by reason: the inbound filter's (`too_short`, `too_large`, `bad_prefix`,
    /// `over_budget`, `over_shared_budget`, `backlog`), the seal's (`open_failed`, `seal_stale`, `seal_future`,
    /// `replayed`, ...), or a `WireError.reason`; refused state-sync connections count as `sync_refused`.
    public var dropped: [String: UInt64] = [:]

    /// Creates zeroed counters.
    public init() {}
}

/// Why the gossip service could not start or sync.
public enum GossipTransportError: Error, CustomStringConvertible, Sendable {
    /// A bind or advertise address that is neither numeric nor resolvable.
    case unresolvableAddress(String)
    /// A state sync outlasted `syncTimeout`.
    case syncTimedOut(PeerAddress)
    /// A peer announced a frame larger than `WireLimits.syncFrame` allows.
    case syncFrameTooLarge(Int)
    /// The peer closed the connection before answering.
    case syncClosedEarly(PeerAddress)
    /// The peer could not open our sealed first frame: its mesh key or mesh name differs from ours.
    case syncPeerCannotOpen(PeerAddress)
    /// A state-sync frame was not what the conversation expects at that point.
    case syncProtocol(String)

    /// What went wrong, as a sentence.
    public var description: String {
        switch self {
        case .unresolvableAddress(let a): return "cannot use \(a) as a gossip address: give host:port with a numeric or resolvable host"
        case .syncTimedOut(let p): return "state sync with \(p) timed out"
        case .syncFrameTooLarge(let n): return "a state-sync frame of \(n) bytes exceeds the limit"
        case .syncClosedEarly(let p): return "\(p) closed the state-sync connection before replying"
        case .syncPeerCannotOpen(let p):
            return "\(p) cannot open our sealed packets: its mesh key or mesh name differs from ours (check keys.mesh on both)"
        case .syncProtocol(let what): return "a state-sync peer broke the protocol: \(what)"
        }
    }
}
