import MeshCrypto

/// Who a member is. `generation` is new at every start of the process, so a pod that restarts with the same
/// name or address is a different member at once, never confused with its dead predecessor.
public struct MemberIdentity: Hashable, Sendable, CustomStringConvertible {
    /// The unique member name (the node name in Kubernetes).
    public var name: String
    /// The cluster the member vouches for; empty for a member that serves none (a gateway).
    public var cluster: String
    public var zone: String
    /// Chosen at start-up, larger than any earlier generation of the same name (wall-clock based).
    public var generation: UInt64

    public init(name: String, cluster: String, zone: String = "", generation: UInt64) {
        self.name = name
        self.cluster = cluster
        self.zone = zone
        self.generation = generation
    }

    public var description: String { "\(name)#\(generation)" }
}

/// A member's address: the UDP (and TCP state-sync) endpoint of its gossip port.
public struct PeerAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    public enum Host: Hashable, Sendable {
        case v4(UInt32)
        case v6(UInt64, UInt64)
    }
    public var host: Host
    public var port: UInt16

    public init(host: Host, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Parses a numeric `a.b.c.d:port` or `[v6]:port`; names are resolved elsewhere.
    public init?(_ text: String) {
        guard let (hostPart, portPart) = Self.split(text), let port = UInt16(portPart),
              let host = Self.parseHost(hostPart) else { return nil }
        self.init(host: host, port: port)
    }

    /// Splits `host:port` or `[v6 host]:port` into its host and port text; nil when it has neither form
    /// (an IPv6 host without brackets included, since its colons make the port ambiguous).
    public static func split(_ text: String) -> (host: Substring, port: Substring)? {
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            return (text[text.index(after: text.startIndex)..<close], text[text.index(close, offsetBy: 2)...])
        }
        guard let colon = text.lastIndex(of: ":") else { return nil }
        let host = text[..<colon]
        guard !host.contains(":") else { return nil }
        return (host, text[text.index(after: colon)...])
    }

    /// Parses a numeric IPv4 or IPv6 host.
    public static func parseHost(_ text: Substring) -> Host? {
        let quads = text.split(separator: ".", omittingEmptySubsequences: false)
        if quads.count == 4 {
            var v: UInt32 = 0
            for q in quads {
                guard !q.isEmpty, q.count <= 3, q.allSatisfy(\.isASCII), let b = UInt8(q) else { return nil }
                v = v << 8 | UInt32(b)
            }
            return .v4(v)
        }
        guard text.contains(":") else { return nil }
        let halves = splitOnDoubleColon(String(text))
        guard halves.count <= 2 else { return nil }
        func groups(_ s: String) -> [UInt16]? {
            if s.isEmpty { return [] }
            var out: [UInt16] = []
            for g in s.split(separator: ":", omittingEmptySubsequences: false) {
                guard !g.isEmpty, g.count <= 4, let v = UInt16(g, radix: 16) else { return nil }
                out.append(v)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        var all = head
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count < 8 else { return nil }
            all += Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard all.count == 8 else { return nil }
        let hi = all[0..<4].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        let lo = all[4..<8].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        return .v6(hi, lo)
    }

    private static func splitOnDoubleColon(_ s: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var previousWasColon = false
        for c in s {
            if c == ":" && previousWasColon {
                current.removeLast()
                parts.append(current)
                current = ""
                previousWasColon = false
                continue
            }
            previousWasColon = c == ":"
            current.append(c)
        }
        parts.append(current)
        return parts
    }

    /// The host as text, as SocketAddress wants it.
    public var hostText: String {
        switch host {
        case .v4(let v):
            return "\(v >> 24).\(v >> 16 & 0xff).\(v >> 8 & 0xff).\(v & 0xff)"
        case .v6(let hi, let lo):
            let g = (0..<4).map { String(hi >> (48 - 16 * $0) & 0xffff, radix: 16) }
                + (0..<4).map { String(lo >> (48 - 16 * $0) & 0xffff, radix: 16) }
            return g.joined(separator: ":")
        }
    }

    public var description: String {
        if case .v6 = host { return "[\(hostText)]:\(port)" }
        return "\(hostText):\(port)"
    }

    public static func < (a: PeerAddress, b: PeerAddress) -> Bool { a.sortKey < b.sortKey }

    private var sortKey: (UInt8, UInt64, UInt64, UInt16) {
        switch host {
        case .v4(let v): return (4, 0, UInt64(v), port)
        case .v6(let hi, let lo): return (6, hi, lo, port)
        }
    }
}

/// The health of one endpoint as the digest's origin sees it.
public enum EndpointHealthState: UInt8, Hashable, Sendable, CustomStringConvertible {
    /// Known to the origin but not probed by it (another agent of the cluster watches it).
    case unknown = 0
    case healthy = 1
    case unhealthy = 2

    public var description: String {
        switch self {
        case .unknown: return "unknown"
        case .healthy: return "healthy"
        case .unhealthy: return "unhealthy"
        }
    }
}

/// One endpoint of one service, and its health.
public struct EndpointHealth: Hashable, Sendable, Comparable {
    /// `NAMESPACE/NAME` of the Kubernetes service.
    public var service: String
    /// An IP address or a host name.
    public var host: String
    public var port: UInt16
    public var state: EndpointHealthState

    public init(service: String, host: String, port: UInt16, state: EndpointHealthState) {
        self.service = service
        self.host = host
        self.port = port
        self.state = state
    }

    /// `host:port`, with brackets for IPv6.
    public var address: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    public static func < (a: EndpointHealth, b: EndpointHealth) -> Bool {
        (a.service, a.host, a.port, a.state.rawValue) < (b.service, b.host, b.port, b.state.rawValue)
    }
}

/// What one agent says about its cluster's endpoints at one moment: the unit of health.
public struct HealthDigest: Hashable, Sendable {
    public var origin: MemberIdentity
    /// The origin's membership incarnation when it issued the digest.
    public var incarnation: UInt64
    /// Increases with every digest the origin issues within one generation.
    public var version: UInt64
    /// Wall-clock milliseconds since the Unix epoch at issue; bounds how far in the future a digest may claim to be.
    public var issuedAtMillis: UInt64
    /// Sorted, without duplicates, so that the encoding (and so the signature) is canonical.
    public private(set) var endpoints: [EndpointHealth]

    public init(origin: MemberIdentity, incarnation: UInt64, version: UInt64, issuedAtMillis: UInt64, endpoints: [EndpointHealth]) {
        self.origin = origin
        self.incarnation = incarnation
        self.version = version
        self.issuedAtMillis = issuedAtMillis
        self.endpoints = Self.canonical(endpoints)
    }

    /// For the decoder, which has already checked that `endpoints` are strictly ordered.
    init(origin: MemberIdentity, incarnation: UInt64, version: UInt64, issuedAtMillis: UInt64, canonicalEndpoints: [EndpointHealth]) {
        self.origin = origin
        self.incarnation = incarnation
        self.version = version
        self.issuedAtMillis = issuedAtMillis
        self.endpoints = canonicalEndpoints
    }

    /// Sorted by (service, host, port); where one endpoint appears twice, the worst health wins.
    static func canonical(_ endpoints: [EndpointHealth]) -> [EndpointHealth] {
        var out: [EndpointHealth] = []
        out.reserveCapacity(endpoints.count)
        for e in endpoints.sorted() {
            if let last = out.last, last.service == e.service, last.host == e.host, last.port == e.port {
                if e.state == .unhealthy { out[out.count - 1].state = .unhealthy }
                continue
            }
            out.append(e)
        }
        return out
    }

    /// The position of this digest in its origin's history: a later generation, or the same one with a
    /// higher version, supersedes.
    public var order: DigestOrder { DigestOrder(generation: origin.generation, version: version) }
}

/// Orders the digests of one origin: (generation, version), lexicographically.
public struct DigestOrder: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var generation: UInt64
    public var version: UInt64
    public init(generation: UInt64, version: UInt64) {
        self.generation = generation
        self.version = version
    }
    public static func < (a: DigestOrder, b: DigestOrder) -> Bool { (a.generation, a.version) < (b.generation, b.version) }
    public var description: String { "\(generation).\(version)" }
}

/// A digest with its origin cluster's signature, relayed unchanged by every member.
public struct SignedDigest: Hashable, Sendable {
    public var digest: HealthDigest
    public var keyID: KeyID
    /// Inline rather than an array of its own (`SignatureBytes`).
    private var signatureBytes: SignatureBytes

    /// The signature's bytes, copied out (verification and tests); encoding reads them in place.
    public var signature: [UInt8] {
        get { signatureBytes.array }
        set { signatureBytes = SignatureBytes(newValue) }
    }

    public init(digest: HealthDigest, keyID: KeyID, signature: [UInt8]) {
        self.init(digest: digest, keyID: keyID, signature: SignatureBytes(signature))
    }

    /// For the decoder: the signature straight from the packet's bytes.
    init(digest: HealthDigest, keyID: KeyID, signature: SignatureBytes) {
        self.digest = digest
        self.keyID = keyID
        signatureBytes = signature
    }

    /// Calls `body` with the signature's bytes in place.
    func withSignatureBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R { signatureBytes.withBytes(body) }

    var signatureCount: Int { signatureBytes.count }

    /// Signs `digest` over its canonical encoding.
    public init(signing digest: HealthDigest, with signer: some MessageSigner) {
        self.init(digest: digest, keyID: signer.keyID, signature: signer.sign(WireEncoding.signedBytes(of: digest)))
    }
}

/// Another member's claim that a member is suspect or dead (SWIM accusations are by nature not the target's own).
public struct Accusation: Hashable, Sendable {
    public enum Kind: UInt8, Hashable, Sendable {
        case suspect = 1
        case dead = 2
    }
    public var kind: Kind
    public var target: String
    public var generation: UInt64
    public var incarnation: UInt64
    public var accuser: String

    public init(kind: Kind, target: String, generation: UInt64, incarnation: UInt64, accuser: String) {
        self.kind = kind
        self.target = target
        self.generation = generation
        self.incarnation = incarnation
        self.accuser = accuser
    }
}

/// A direct probe. `target` names whom the sender means, so a restarted process at the same address does not
/// answer for its predecessor (generation 0: any generation, as when probing a seed address).
public struct Ping: Hashable, Sendable {
    public var sequence: UInt32
    public var source: String
    public var target: String
    public var targetGeneration: UInt64
    public init(sequence: UInt32, source: String, target: String, targetGeneration: UInt64) {
        self.sequence = sequence
        self.source = source
        self.target = target
        self.targetGeneration = targetGeneration
    }
}

/// A request to probe `target` on the sender's behalf and relay the ack (SWIM's ping-req).
public struct PingRequest: Hashable, Sendable {
    public var sequence: UInt32
    public var source: String
    public var target: String
    public var targetGeneration: UInt64
    public var targetAddress: PeerAddress
    /// Whether the requester wants a nack when the target does not answer (Lifeguard).
    public var wantsNack: Bool
    public init(sequence: UInt32, source: String, target: String, targetGeneration: UInt64, targetAddress: PeerAddress, wantsNack: Bool) {
        self.sequence = sequence
        self.source = source
        self.target = target
        self.targetGeneration = targetGeneration
        self.targetAddress = targetAddress
        self.wantsNack = wantsNack
    }
}

/// The answer to a ping (or a relayed one).
public struct Ack: Hashable, Sendable {
    public var sequence: UInt32
    public var source: String
    public init(sequence: UInt32, source: String) {
        self.sequence = sequence
        self.source = source
    }
}

/// An indirect prober's word that it asked but heard nothing (Lifeguard: proves the relay itself is alive).
public struct Nack: Hashable, Sendable {
    public var sequence: UInt32
    public var source: String
    public init(sequence: UInt32, source: String) {
        self.sequence = sequence
        self.source = source
    }
}

/// What one side of a state sync holds: per member its newest record, per origin its newest digest.
public struct SyncSummary: Hashable, Sendable {
    public struct MemberEntry: Hashable, Sendable {
        public var name: String
        public var generation: UInt64
        public var incarnation: UInt64
        public var status: UInt8
        public init(name: String, generation: UInt64, incarnation: UInt64, status: UInt8) {
            self.name = name
            self.generation = generation
            self.incarnation = incarnation
            self.status = status
        }
    }
    public struct DigestEntry: Hashable, Sendable {
        public var origin: String
        public var order: DigestOrder
        public init(origin: String, order: DigestOrder) {
            self.origin = origin
            self.order = order
        }
    }
    /// The sender, so the receiver can learn it.
    public var sender: String
    public var members: [MemberEntry]
    public var digests: [DigestEntry]
    /// Whether the receiver should answer with its own summary and the records the sender lacks (push-pull).
    public var wantsReply: Bool

    public init(sender: String, members: [MemberEntry], digests: [DigestEntry], wantsReply: Bool) {
        self.sender = sender
        self.members = members
        self.digests = digests
        self.wantsReply = wantsReply
    }
}

/// Every message of the mesh. A datagram carries one or more of them; a state-sync frame likewise.
///
/// The three large payloads are boxed (`indirect`), so that a message is 64 bytes rather than a digest's 104: every
/// queue of news a member holds and every datagram in flight is an array of them, and a member hears a hundred
/// member records and accusations for every digest or ping request.
public enum GossipMessage: Hashable, Sendable {
    case ping(Ping)
    indirect case pingRequest(PingRequest)
    case ack(Ack)
    case nack(Nack)
    case member(SignedMemberRecord)
    case accusation(Accusation)
    indirect case digest(SignedDigest)
    case syncSummary(SyncSummary)
    /// An operator's drain or undrain order (`DrainRecord`).
    indirect case drain(SignedDrain)
}
