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
        buffer.writeInteger(magic.0)
        buffer.writeInteger(magic.1)
        buffer.writeInteger(version)
        buffer.writeVarint(UInt64(messages.count))
        for message in messages { encodeMessage(message, into: &buffer) }
    }

    public static func encodePacket(_ messages: [GossipMessage]) -> ByteBuffer {
        var buffer = ByteBuffer()
        encodePacket(messages, into: &buffer)
        return buffer
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
    public static func encodeMessage(_ message: GossipMessage, into buffer: inout ByteBuffer) {
        // The body is written in place after a one-byte length guess, and shifted in the rare case that its
        // length needs a longer varint: no temporary buffer per message.
        let typeIndex = buffer.writerIndex
        buffer.writeInteger(UInt16(0))
        let bodyStart = buffer.writerIndex
        let type = encodeBody(message, into: &buffer)
        let bodyLength = buffer.writerIndex - bodyStart
        buffer.setInteger(type.rawValue, at: typeIndex)
        let lengthSize = varintSize(UInt64(bodyLength))
        if lengthSize > 1 {
            buffer.writeRepeatingByte(0, count: lengthSize - 1)
            // In bounds by construction: the bytes were just written.
            _ = try? buffer.copyBytes(at: bodyStart, to: bodyStart + lengthSize - 1, length: bodyLength)
        }
        buffer.setVarint(UInt64(bodyLength), at: typeIndex + 1)
    }

    /// The bytes `message` takes inside a packet, for packing datagrams to a budget.
    public static func encodedSize(of message: GossipMessage) -> Int {
        var body = ByteBuffer()
        _ = encodeBody(message, into: &body)
        return 1 + varintSize(UInt64(body.readableBytes)) + body.readableBytes
    }

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

    private static func encodeBody(_ message: GossipMessage, into b: inout ByteBuffer) -> MessageType {
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

    static func writeDrainBody(_ d: DrainRecord, into b: inout ByteBuffer) {
        b.writeWireString(d.cluster)
        b.writeWireString(d.route)
        b.writeInteger(d.issuedAtMillis)
        b.writeInteger(d.untilMillis)
    }

    static func writeRecordBody(_ r: MemberRecord, into b: inout ByteBuffer) {
        b.writeIdentity(r.identity)
        b.writeAddress(r.address)
        b.writeInteger(r.incarnation)
        b.writeInteger(r.status.rawValue)
    }

    static func writeDigestBody(_ d: HealthDigest, into b: inout ByteBuffer) {
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
        var b = ByteBuffer()
        b.writeString("zone-agent/digest/v1\0")
        writeDigestBody(digest, into: &b)
        return Array(b.readableBytesView)
    }

    /// The canonical bytes a member record signature covers.
    public static func signedBytes(of record: MemberRecord) -> [UInt8] {
        var b = ByteBuffer()
        b.writeString("zone-agent/member/v1\0")
        writeRecordBody(record, into: &b)
        return Array(b.readableBytesView)
    }

    /// The tail of every signed record: the signer's key id, then the signature with its length.
    @inline(__always)
    static func writeSignature(keyID: KeyID, _ signature: UnsafeRawBufferPointer, into b: inout ByteBuffer) {
        b.writeInteger(keyID.rawValue)
        b.writeVarint(UInt64(signature.count))
        b.writeBytes(signature)
    }

    /// The canonical bytes an operator's drain signature covers.
    public static func signedBytes(of drain: DrainRecord) -> [UInt8] {
        var b = ByteBuffer()
        b.writeString("zone-agent/drain/v1\0")
        writeDrainBody(drain, into: &b)
        return Array(b.readableBytesView)
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

extension ByteBuffer {
    mutating func setVarint(_ value: UInt64, at index: Int) {
        var v = value
        var i = index
        while v >= 0x80 {
            setInteger(UInt8(v & 0x7f | 0x80), at: i)
            v >>= 7
            i += 1
        }
        setInteger(UInt8(v), at: i)
    }

    mutating func writeVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            writeInteger(UInt8(v & 0x7f | 0x80))
            v >>= 7
        }
        writeInteger(UInt8(v))
    }

    mutating func writeWireString(_ s: String) {
        writeVarint(UInt64(s.utf8.count))
        writeString(s)
    }

    mutating func writeIdentity(_ id: MemberIdentity) {
        writeWireString(id.name)
        writeWireString(id.cluster)
        writeWireString(id.zone)
        writeInteger(id.generation)
    }

    mutating func writeAddress(_ a: PeerAddress) {
        switch a.host {
        case .v4(let v):
            writeInteger(UInt8(4))
            writeInteger(v)
        case .v6(let hi, let lo):
            writeInteger(UInt8(6))
            writeInteger(hi)
            writeInteger(lo)
        }
        writeInteger(a.port)
    }
}
