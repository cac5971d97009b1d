import MeshCrypto
import NIOCore

/// The versioned binary encoding of zone-agent packets.
///
/// A packet is `magic "ZA" | version | count (varint) | message*`, a message `type (1) | length (varint) | body`.
/// Integers are big-endian, lengths and counts LEB128 varints (shortest form only), strings a varint length and
/// UTF-8. The same packet form carries a gossip datagram and a state-sync frame; only the size limit differs.
public enum WireEncoding {
    public static let magic: (UInt8, UInt8) = (0x5A, 0x41)
    public static let version: UInt8 = 1
    /// The default datagram budget: fits a 1,500-byte MTU after IP, UDP and the seal's overhead.
    public static let datagramBudget = 1400
    /// Bytes of every packet before its message count: the magic and the version.
    static let packetPrefixSize = 3
    /// Bytes of a packet before its messages when it holds `messageCount` of them: the prefix, then the count.
    public static func packetHeaderSize(messageCount: Int) -> Int { packetPrefixSize + varintSize(UInt64(max(0, messageCount))) }
    /// Bytes of a packet before its messages for up to 127 messages (a datagram never holds more), and the fewest
    /// any packet has.
    public static let packetHeaderSize = packetHeaderSize(messageCount: 0)

    enum MessageType: UInt8 {
        case ping = 1, pingRequest, ack, nack, member, accusation, digest, syncSummary, drain
    }

    // MARK: Packets

    /// Encodes `messages` as one packet.
    public static func encodePacket(_ messages: [GossipMessage], into buffer: inout ByteBuffer) {
        var writer = WireWriter(capacity: datagramBudget + 100)
        encodePacket(messages, into: &writer)
        writer.withBytes { _ = buffer.writeBytes($0) }
    }

    public static func encodePacket(_ messages: [GossipMessage]) -> ByteBuffer {
        var buffer = ByteBuffer()
        encodePacket(messages, into: &buffer)
        return buffer
    }

    /// The bytes of `messages` as one packet.
    public static func encodePacketBytes(_ messages: [GossipMessage]) -> [UInt8] {
        var writer = WireWriter(capacity: datagramBudget + 100)
        encodePacket(messages, into: &writer)
        return writer.bytes
    }

    static func encodePacket(_ messages: [GossipMessage], into writer: inout WireWriter) {
        writer.writeInteger(magic.0)
        writer.writeInteger(magic.1)
        writer.writeInteger(version)
        writer.writeVarint(UInt64(messages.count))
        for message in messages { encodeMessage(message, into: &writer) }
    }

    /// Decodes a whole packet; `limits` bounds its size and contents.
    public static func decodePacket(_ buffer: ByteBuffer, limits: WireLimits = .datagram) throws(WireError) -> [GossipMessage] {
        let result = buffer.withUnsafeReadableBytes { raw in Result { () throws(WireError) in try decodePacket(raw, limits: limits) } }
        return try result.get()
    }

    /// Decodes a packet from raw bytes.
    public static func decodePacket(_ bytes: [UInt8], limits: WireLimits = .datagram) throws(WireError) -> [GossipMessage] {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(WireError) in try decodePacket(raw, limits: limits) } }
        return try result.get()
    }

    static func decodePacket(_ raw: UnsafeRawBufferPointer, limits: WireLimits) throws(WireError) -> [GossipMessage] {
        guard raw.count <= limits.maxPacketBytes else { throw .tooLarge(field: "packet", limit: limits.maxPacketBytes) }
        var reader = WireReader(bytes: raw, limits: limits)
        guard try reader.u8("magic") == magic.0, try reader.u8("magic") == magic.1 else { throw .badMagic }
        let v = try reader.u8("version")
        guard v == version else { throw .unsupportedVersion(v) }
        let count = try reader.count("message count", minimumElementSize: 2, limit: limits.maxMessages)
        var out: [GossipMessage] = []
        out.reserveCapacity(count)
        for _ in 0..<count { out.append(try reader.message()) }
        try reader.expectEnd("packet")
        return out
    }

    // MARK: Messages

    /// Appends one message (type, length, body).
    static func encodeMessage(_ message: GossipMessage, into writer: inout WireWriter) {
        // The body is written in place after a one-byte length guess, and moved in the rare case that its length
        // needs a longer varint: no temporary buffer per message.
        let typeIndex = writer.count
        writer.writeInteger(UInt16(0))
        let bodyStart = writer.count
        let type = encodeBody(message, into: &writer)
        let bodyLength = writer.count - bodyStart
        writer.setByte(type.rawValue, at: typeIndex)
        let lengthSize = varintSize(UInt64(bodyLength))
        if lengthSize > 1 { writer.insertRoom(lengthSize - 1, at: bodyStart) }
        writer.setVarint(UInt64(bodyLength), at: typeIndex + 1)
    }

    /// The bytes `message` takes inside a packet, for packing datagrams to a budget: counted, not encoded (the core
    /// asks for every message it queues). `encodeBody` writes exactly this many; tests and the fuzzer hold them to it.
    public static func encodedSize(of message: GossipMessage) -> Int {
        let body = bodySize(of: message)
        return 1 + varintSize(UInt64(body)) + body
    }

    static func bodySize(of message: GossipMessage) -> Int {
        switch message {
        case .ping(let p):
            return 4 + stringSize(p.source) + stringSize(p.target) + 8
        case .pingRequest(let r):
            return 4 + stringSize(r.source) + stringSize(r.target) + 8 + addressSize(r.targetAddress) + 1
        case .ack(let a):
            return 4 + stringSize(a.source)
        case .nack(let n):
            return 4 + stringSize(n.source)
        case .member(let m):
            return recordSize(m) + signatureSize(m.signatureCount)
        case .accusation(let a):
            return 1 + stringSize(a.target) + 8 + 8 + stringSize(a.accuser)
        case .digest(let d):
            var size = identitySize(d.digest.origin)
            size += 8 + 8 + 8 + varintSize(UInt64(d.digest.endpoints.count))
            for e in d.digest.endpoints { size += stringSize(e.service) + stringSize(e.host) + 2 + 1 }
            return size + signatureSize(d.signatureCount)
        case .syncSummary(let s):
            var size = stringSize(s.sender) + 1 + varintSize(UInt64(s.members.count)) + varintSize(UInt64(s.digests.count))
            for m in s.members { size += stringSize(m.name) + 8 + 8 + 1 }
            for d in s.digests { size += stringSize(d.origin) + 8 + 8 }
            return size
        case .drain(let d):
            return stringSize(d.drain.cluster) + stringSize(d.drain.route) + 8 + 8 + signatureSize(d.signature.count)
        }
    }

    @inline(__always)
    private static func stringSize(_ s: String) -> Int {
        let n = s.utf8.count
        return varintSize(UInt64(n)) + n
    }

    private static func identitySize(_ id: borrowing MemberIdentity) -> Int {
        stringSize(id.name) + stringSize(id.cluster) + stringSize(id.zone) + 8
    }

    /// Read in place from the record's shared box: `record` would copy it out.
    private static func recordSize(_ m: SignedMemberRecord) -> Int {
        m.withRecord { r in identitySize(r.identity) + addressSize(r.address) + 8 + 1 }
    }

    private static func addressSize(_ a: PeerAddress) -> Int {
        switch a.host {
        case .v4: return 1 + 4 + 2
        case .v6: return 1 + 16 + 2
        }
    }

    /// The key id, then the signature with its length.
    private static func signatureSize(_ count: Int) -> Int { 8 + varintSize(UInt64(count)) + count }

    /// The bytes a packet of messages of these sizes takes.
    public static func packetSize(messageSizes: some Sequence<Int>) -> Int {
        var count = 0
        var total = 0
        for size in messageSizes {
            count += 1
            total += size
        }
        return packetHeaderSize(messageCount: count) + total
    }

    private static func encodeBody(_ message: GossipMessage, into b: inout WireWriter) -> MessageType {
        switch message {
        case .ping(let p):
            b.writeInteger(p.sequence)
            b.writeWireString(p.source)
            b.writeWireString(p.target)
            b.writeInteger(p.targetGeneration)
            return .ping
        case .pingRequest(let r):
            b.writeInteger(r.sequence)
            b.writeWireString(r.source)
            b.writeWireString(r.target)
            b.writeInteger(r.targetGeneration)
            b.writeAddress(r.targetAddress)
            b.writeInteger(UInt8(r.wantsNack ? 1 : 0))
            return .pingRequest
        case .ack(let a):
            b.writeInteger(a.sequence)
            b.writeWireString(a.source)
            return .ack
        case .nack(let n):
            b.writeInteger(n.sequence)
            b.writeWireString(n.source)
            return .nack
        case .member(let m):
            writeRecordBody(m.record, into: &b)
            m.withSignatureBytes { writeSignature(keyID: m.keyID, $0, into: &b) }
            return .member
        case .accusation(let a):
            b.writeInteger(a.kind.rawValue)
            b.writeWireString(a.target)
            b.writeInteger(a.generation)
            b.writeInteger(a.incarnation)
            b.writeWireString(a.accuser)
            return .accusation
        case .digest(let d):
            writeDigestBody(d.digest, into: &b)
            d.withSignatureBytes { writeSignature(keyID: d.keyID, $0, into: &b) }
            return .digest
        case .syncSummary(let s):
            b.writeWireString(s.sender)
            b.writeInteger(UInt8(s.wantsReply ? 1 : 0))
            b.writeVarint(UInt64(s.members.count))
            for m in s.members {
                b.writeWireString(m.name)
                b.writeInteger(m.generation)
                b.writeInteger(m.incarnation)
                b.writeInteger(m.status)
            }
            b.writeVarint(UInt64(s.digests.count))
            for d in s.digests {
                b.writeWireString(d.origin)
                b.writeInteger(d.order.generation)
                b.writeInteger(d.order.version)
            }
            return .syncSummary
        case .drain(let d):
            writeDrainBody(d.drain, into: &b)
            d.signature.withUnsafeBytes { writeSignature(keyID: d.keyID, $0, into: &b) }
            return .drain
        }
    }

    static func writeDrainBody(_ d: DrainRecord, into b: inout WireWriter) {
        b.writeWireString(d.cluster)
        b.writeWireString(d.route)
        b.writeInteger(d.issuedAtMillis)
        b.writeInteger(d.untilMillis)
    }

    static func writeRecordBody(_ r: MemberRecord, into b: inout WireWriter) {
        b.writeIdentity(r.identity)
        b.writeAddress(r.address)
        b.writeInteger(r.incarnation)
        b.writeInteger(r.status.rawValue)
    }

    static func writeDigestBody(_ d: HealthDigest, into b: inout WireWriter) {
        b.writeIdentity(d.origin)
        b.writeInteger(d.incarnation)
        b.writeInteger(d.version)
        b.writeInteger(d.issuedAtMillis)
        b.writeVarint(UInt64(d.endpoints.count))
        for e in d.endpoints {
            b.writeWireString(e.service)
            b.writeWireString(e.host)
            b.writeInteger(e.port)
            b.writeInteger(e.state.rawValue)
        }
    }

    // MARK: What signatures cover

    /// The canonical bytes a digest signature covers: a domain tag, then the digest body.
    public static func signedBytes(of digest: HealthDigest) -> [UInt8] {
        var b = WireWriter(capacity: 256)
        b.writeString("zone-agent/digest/v1\0")
        writeDigestBody(digest, into: &b)
        return b.bytes
    }

    /// The canonical bytes a member record signature covers.
    public static func signedBytes(of record: MemberRecord) -> [UInt8] {
        var b = WireWriter(capacity: 256)
        b.writeString("zone-agent/member/v1\0")
        writeRecordBody(record, into: &b)
        return b.bytes
    }

    /// The tail of every signed record: the signer's key id, then the signature with its length.
    @inline(__always)
    static func writeSignature(keyID: KeyID, _ signature: UnsafeRawBufferPointer, into b: inout WireWriter) {
        b.writeInteger(keyID.rawValue)
        b.writeVarint(UInt64(signature.count))
        b.writeBytes(signature)
    }

    /// The canonical bytes an operator's drain signature covers.
    public static func signedBytes(of drain: DrainRecord) -> [UInt8] {
        var b = WireWriter(capacity: 256)
        b.writeString("zone-agent/drain/v1\0")
        writeDrainBody(drain, into: &b)
        return b.bytes
    }

    static func varintSize(_ value: UInt64) -> Int {
        var v = value
        var n = 1
        while v >= 0x80 {
            v >>= 7
            n += 1
        }
        return n
    }
}

/// Bounds that a decoder enforces, so that no input can make it allocate without limit.
public struct WireLimits: Sendable {
    public var maxPacketBytes: Int
    public var maxMessages: Int
    public var maxStringBytes: Int
    public var maxEndpoints: Int
    public var maxSummaryEntries: Int

    public init(maxPacketBytes: Int, maxMessages: Int, maxStringBytes: Int = 253, maxEndpoints: Int, maxSummaryEntries: Int) {
        self.maxPacketBytes = maxPacketBytes
        self.maxMessages = maxMessages
        self.maxStringBytes = maxStringBytes
        self.maxEndpoints = maxEndpoints
        self.maxSummaryEntries = maxSummaryEntries
    }

    /// A UDP datagram: at most 64 KiB, whatever the configured budget, so a peer with a larger budget still decodes.
    public static let datagram = WireLimits(maxPacketBytes: 65_507, maxMessages: 1024, maxEndpoints: 4096, maxSummaryEntries: 4096)
    /// A state-sync frame over TCP: big enough for every digest of a large mesh, still bounded.
    public static let syncFrame = WireLimits(maxPacketBytes: 16 << 20, maxMessages: 100_000, maxEndpoints: 65_536, maxSummaryEntries: 100_000)
}
