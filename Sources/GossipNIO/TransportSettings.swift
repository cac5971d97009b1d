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
    /// Packets and frames dropped, by reason (`open_failed`, or a `WireError.reason`).
    public var dropped: [String: UInt64] = [:]

    /// Creates zeroed counters.
    public init() {}
}

/// What the gossip service reports to the daemon.
public enum GossipEvent: Sendable, Equatable {
    /// A member was learned or changed state.
    case memberChanged(MemberSnapshot, previous: MemberState?)
    /// A verified, newer digest was stored.
    case digestAccepted(SignedDigest)
    /// A received record was refused.
    case recordRejected(RecordRejection)
    /// A member name is used by two running processes (a node name started twice); the sentence says what to do.
    case nameConflict(NameConflict)
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

    /// What went wrong, as a sentence.
    public var description: String {
        switch self {
        case .unresolvableAddress(let a): return "cannot use \(a) as a gossip address: give host:port with a numeric or resolvable host"
        case .syncTimedOut(let p): return "state sync with \(p) timed out"
        case .syncFrameTooLarge(let n): return "a state-sync frame of \(n) bytes exceeds the limit"
        case .syncClosedEarly(let p): return "\(p) closed the state-sync connection before replying"
        }
    }
}
