#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MeshCrypto

/// A strict reader over raw bytes: every read checks what is left, every count is bounded by the bytes that
/// could hold it. It works on a raw pointer rather than `ByteBuffer` reads because decoding sits on the gossip hot
/// path and per-read bounds and exclusivity checks of a class-backed buffer cost more than the parsing itself.
struct WireReader {
    let bytes: UnsafeRawBufferPointer
    var offset: Int
    /// Where the bytes being read end: the packet's, or while a message is read, its body's.
    private(set) var end: Int
    let limits: WireLimits
    /// Whether the last string read was all ASCII (then its bytes order as the string does).
    private(set) var lastStringWasASCII = true
    /// `SmallASCII.layoutHolds`, read once per packet rather than once per string.
    private let smallStringsInPlace = SmallASCII.layoutHolds

    init(bytes: UnsafeRawBufferPointer, offset: Int = 0, end: Int? = nil, limits: WireLimits) {
        self.bytes = bytes
        self.offset = offset
        self.end = end ?? bytes.count
        self.limits = limits
    }

    var remaining: Int { end - offset }

    @inline(__always)
    private mutating func take<T: FixedWidthInteger>(_: T.Type, _ field: @autoclosure () -> String) throws(WireError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw .truncated(field: field()) }
        let v = T(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += size
        return v
    }

    mutating func u8(_ field: @autoclosure () -> String) throws(WireError) -> UInt8 {
        guard offset < end else { throw .truncated(field: field()) }
        let v = bytes[offset]
        offset += 1
        return v
    }

    mutating func u16(_ field: @autoclosure () -> String) throws(WireError) -> UInt16 { try take(UInt16.self, field()) }
    mutating func u32(_ field: @autoclosure () -> String) throws(WireError) -> UInt32 { try take(UInt32.self, field()) }
    mutating func u64(_ field: @autoclosure () -> String) throws(WireError) -> UInt64 { try take(UInt64.self, field()) }

    mutating func bool(_ field: @autoclosure () -> String) throws(WireError) -> Bool {
        let v = try u8(field())
        guard v <= 1 else { throw .badValue(field: field(), value: UInt64(v)) }
        return v == 1
    }

    @inline(__always)
    mutating func varint(_ field: @autoclosure () -> String) throws(WireError) -> UInt64 {
        // Nearly every length and count fits in one byte: read here, in the caller; the rest out of line.
        if offset < end, bytes[offset] < 0x80 {
            defer { offset += 1 }
            return UInt64(bytes[offset])
        }
        return try longVarint(field())
    }

    @inline(never)
    private mutating func longVarint(_ field: @autoclosure () -> String) throws(WireError) -> UInt64 {
        var result: UInt64 = 0
        for i in 0..<10 {
            let byte = try u8(field())
            if i == 9 && byte > 1 { throw .overlongVarint(field: field()) }
            result |= UInt64(byte & 0x7f) << (7 * UInt64(i))
            if byte & 0x80 == 0 {
                // Shortest form only, so every value has one encoding (signatures cover encodings).
                if i > 0 && byte == 0 { throw .overlongVarint(field: field()) }
                return result
            }
        }
        throw .overlongVarint(field: field())
    }

    /// A count of elements of at least `minimumElementSize` bytes each: refused before any allocation when the
    /// remaining bytes could not hold that many.
    mutating func count(_ field: @autoclosure () -> String, minimumElementSize: Int, limit: Int) throws(WireError) -> Int {
        let n = try varint(field())
        guard n <= UInt64(limit) else { throw .tooLarge(field: field(), limit: limit) }
        guard n * UInt64(minimumElementSize) <= UInt64(remaining) else { throw .truncated(field: field()) }
        return Int(n)
    }

    /// A string decoded earlier from this packet, and where its bytes are, so that a later string can be compared
    /// with those bytes in place.
    struct Remembered {
        let string: String
        let start: Int
        let count: Int
        let isASCII: Bool
    }

    /// `previous`'s string when the next string's bytes are the same, without making a new one (a digest's
    /// endpoints are sorted by service, so most repeat the service of the one before); a new string otherwise,
    /// which `previous` then remembers.
    mutating func string(_ field: @autoclosure () -> String, reusing previous: inout Remembered?) throws(WireError) -> String {
        // Only a length below 0x80 is one varint byte: from 0x80 up, that byte begins a two-byte length.
        if let known = previous, known.count < 0x80, offset < end, Int(bytes[offset]) == known.count,
           remaining > known.count,
           let base = bytes.baseAddress, memcmp(base + known.start, base + offset + 1, known.count) == 0 {
            offset += 1 + known.count
            lastStringWasASCII = known.isASCII
            return known.string
        }
        let start = offset
        let string = try self.string(field())
        previous = Remembered(string: string, start: start + 1, count: offset - start - 1, isASCII: lastStringWasASCII)
        return string
    }

    mutating func string(_ field: @autoclosure () -> String) throws(WireError) -> String {
        let n = try varint(field())
        // The empty string is common (a member without a zone): no string to make.
        if n == 0 {
            lastStringWasASCII = true
            return ""
        }
        guard n <= UInt64(limits.maxStringBytes) else { throw .tooLarge(field: field(), limit: limits.maxStringBytes) }
        guard n <= UInt64(remaining), let base = bytes.baseAddress else { throw .truncated(field: field()) }
        if n <= 15, smallStringsInPlace, let small = SmallASCII.string(bytes, at: offset, count: Int(n)) {
            offset += Int(n)
            lastStringWasASCII = true
            return small
        }
        let raw = UnsafeRawBufferPointer(start: base + offset, count: Int(n))
        offset += Int(n)
        // Names, hosts and services are ASCII in practice; only other text pays for full UTF-8 validation.
        lastStringWasASCII = Self.isASCII(raw)
        if lastStringWasASCII {
            // A short one that `SmallASCII` could not make, or a longer one: this initializer fills a small string in
            // place and, being ASCII, does not validate again (`String(decoding:as:)` scans the bytes twice more).
            if raw.count <= 15 {
                return String(unsafeUninitializedCapacity: raw.count) { $0.initialize(fromContentsOf: raw.bindMemory(to: UInt8.self)) }
            }
            return String(decoding: raw, as: UTF8.self)
        }
        guard let s = String(validating: raw, as: UTF8.self) else { throw .invalidUTF8(field: field()) }
        return s
    }

    /// Whether every byte is below 0x80: eight bytes at a time.
    @inline(__always)
    private static func isASCII(_ raw: UnsafeRawBufferPointer) -> Bool {
        guard let base = raw.baseAddress else { return true }
        var bits: UInt64 = 0
        var i = 0
        while i + 8 <= raw.count {
            bits |= base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            i += 8
        }
        while i < raw.count {
            bits |= UInt64(base.load(fromByteOffset: i, as: UInt8.self))
            i += 1
        }
        return bits & 0x8080_8080_8080_8080 == 0
    }

    /// How two strings of this packet order, compared on their bytes in place: negative, zero or positive. Only for
    /// ASCII is that String's order (which normalises Unicode first); it skips comparing two `String`s.
    @inline(__always)
    private func compareBytes(_ a: Range<Int>, _ b: Range<Int>) -> Int {
        guard let base = bytes.baseAddress else { return a.count - b.count }
        let c = memcmp(base + a.lowerBound, base + b.lowerBound, min(a.count, b.count))
        return c != 0 ? Int(c) : a.count - b.count
    }

    /// A signature: exactly `length` bytes, or none where `optional`.
    mutating func signature(_ field: @autoclosure () -> String, length: Int, optional: Bool) throws(WireError) -> [UInt8] {
        // From a buffer of its own, which is copied in one go; `Array(bytes[range])` goes through a slice, byte by byte.
        Array(try signatureBytes(field(), length: length, optional: optional))
    }

    /// A signature's bytes in place (valid while the packet is): exactly `length` bytes, or none where `optional`.
    mutating func signatureBytes(_ field: @autoclosure () -> String, length: Int, optional: Bool) throws(WireError) -> UnsafeRawBufferPointer {
        let n = try varint(field())
        guard n == UInt64(length) || (optional && n == 0) else { throw .badValue(field: field(), value: n) }
        guard n <= UInt64(remaining) else { throw .truncated(field: field()) }
        let count = Int(n)
        guard count > 0, let base = bytes.baseAddress else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        defer { offset += count }
        return UnsafeRawBufferPointer(start: base + offset, count: count)
    }

    mutating func identity(_ field: @autoclosure () -> String) throws(WireError) -> MemberIdentity {
        let name = try string("\(field()).name")
        guard !name.isEmpty else { throw .badValue(field: "\(field()).name", value: 0) }
        return MemberIdentity(name: name, cluster: try string("\(field()).cluster"), zone: try string("\(field()).zone"),
                              generation: try u64("\(field()).generation"))
    }

    mutating func address(_ field: @autoclosure () -> String) throws(WireError) -> PeerAddress {
        let family = try u8("\(field()).family")
        let host: PeerAddress.Host
        switch family {
        case 4: host = .v4(try u32("\(field()).ipv4"))
        case 6: host = .v6(try u64("\(field()).ipv6"), try u64("\(field()).ipv6"))
        default: throw .badValue(field: "\(field()).family", value: UInt64(family))
        }
        return PeerAddress(host: host, port: try u16("\(field()).port"))
    }

    mutating func expectEnd(_ field: @autoclosure () -> String) throws(WireError) {
        guard remaining == 0 else { throw .trailingBytes(field: field(), count: remaining) }
    }

    // MARK: Messages

    mutating func message() throws(WireError) -> GossipMessage {
        let rawType = try u8("message type")
        let length = try varint("message length")
        guard length <= UInt64(remaining) else { throw .truncated(field: "message body") }
        guard let type = WireEncoding.MessageType(rawValue: rawType) else { throw .unknownMessageType(rawType) }
        // The body is read by this reader with its end moved in: no second reader to set up per message.
        let packetEnd = end
        end = offset + Int(length)
        let message = try body(of: type)
        try expectEnd("message type \(rawType)")
        end = packetEnd
        return message
    }

    /// Inlined into `message()`: a call and a copy of the 64-byte message it returns fewer per message (callgrind:
    /// 20,864 -> 20,443 instructions per full datagram; inlining `identity` and `address` as well cost 330 more).
    @inline(__always)
    private mutating func body(of type: WireEncoding.MessageType) throws(WireError) -> GossipMessage {
        switch type {
        case .ping:
            return .ping(Ping(sequence: try u32("ping.sequence"), source: try string("ping.source"),
                              target: try string("ping.target"), targetGeneration: try u64("ping.targetGeneration")))
        case .pingRequest:
            return .pingRequest(PingRequest(
                sequence: try u32("pingRequest.sequence"), source: try string("pingRequest.source"),
                target: try string("pingRequest.target"), targetGeneration: try u64("pingRequest.targetGeneration"),
                targetAddress: try address("pingRequest.targetAddress"), wantsNack: try bool("pingRequest.wantsNack")))
        case .ack:
            return .ack(Ack(sequence: try u32("ack.sequence"), source: try string("ack.source")))
        case .nack:
            return .nack(Nack(sequence: try u32("nack.sequence"), source: try string("nack.source")))
        case .member:
            let identity = try identity("member.identity")
            let address = try address("member.address")
            let incarnation = try u64("member.incarnation")
            let rawStatus = try u8("member.status")
            guard let status = MemberRecordStatus(rawValue: rawStatus) else {
                throw .badValue(field: "member.status", value: UInt64(rawStatus))
            }
            let keyID = KeyID(rawValue: try u64("member.keyID"))
            let signature = SignatureBytes(try signatureBytes("member.signature", length: 64, optional: true))
            let record = MemberRecord(identity: identity, address: address, incarnation: incarnation, status: status)
            return .member(SignedMemberRecord(record: record, keyID: keyID, signature: signature))
        case .accusation:
            let rawKind = try u8("accusation.kind")
            guard let kind = Accusation.Kind(rawValue: rawKind) else {
                throw .badValue(field: "accusation.kind", value: UInt64(rawKind))
            }
            return .accusation(Accusation(kind: kind, target: try string("accusation.target"),
                                          generation: try u64("accusation.generation"),
                                          incarnation: try u64("accusation.incarnation"),
                                          accuser: try string("accusation.accuser")))
        case .digest:
            let origin = try identity("digest.origin")
            let incarnation = try u64("digest.incarnation")
            let version = try u64("digest.version")
            let issuedAt = try u64("digest.issuedAt")
            let n = try count("digest.endpoints", minimumElementSize: 5, limit: limits.maxEndpoints)
            var endpoints: [EndpointHealth] = []
            endpoints.reserveCapacity(n)
            var lastService: Remembered?
            // Where the previous endpoint's service and host lie in the packet, to order the next one against.
            var lastServiceBytes = 0..<0, lastHostBytes = 0..<0, lastKeyIsASCII = true
            for _ in 0..<n {
                let service = try string("digest.endpoint.service", reusing: &lastService)
                let serviceBytes = offset - service.utf8.count..<offset
                let serviceIsASCII = lastStringWasASCII
                let host = try string("digest.endpoint.host")
                let hostBytes = offset - host.utf8.count..<offset
                let keyIsASCII = serviceIsASCII && lastStringWasASCII
                let port = try u16("digest.endpoint.port")
                let rawState = try u8("digest.endpoint.state")
                guard let state = EndpointHealthState(rawValue: rawState) else {
                    throw .badValue(field: "digest.endpoint.state", value: UInt64(rawState))
                }
                // Strictly increasing (service, host, port): the one canonical order the signature covers.
                if let last = endpoints.last {
                    let ordered: Bool
                    if keyIsASCII && lastKeyIsASCII {
                        let s = compareBytes(lastServiceBytes, serviceBytes)
                        let h = s != 0 ? 0 : compareBytes(lastHostBytes, hostBytes)
                        ordered = s != 0 ? s < 0 : h != 0 ? h < 0 : last.port < port
                    } else {
                        ordered = (last.service, last.host, last.port) < (service, host, port)
                    }
                    guard ordered else { throw .nonCanonical(field: "digest.endpoints") }
                }
                endpoints.append(EndpointHealth(service: service, host: host, port: port, state: state))
                lastServiceBytes = serviceBytes
                lastHostBytes = hostBytes
                lastKeyIsASCII = keyIsASCII
            }
            let keyID = KeyID(rawValue: try u64("digest.keyID"))
            let signature = SignatureBytes(try signatureBytes("digest.signature", length: 64, optional: false))
            let digest = HealthDigest(origin: origin, incarnation: incarnation, version: version,
                                      issuedAtMillis: issuedAt, canonicalEndpoints: endpoints)
            return .digest(SignedDigest(digest: digest, keyID: keyID, signature: signature))
        case .syncSummary:
            let sender = try string("syncSummary.sender")
            let wantsReply = try bool("syncSummary.wantsReply")
            let m = try count("syncSummary.members", minimumElementSize: 18, limit: limits.maxSummaryEntries)
            var members: [SyncSummary.MemberEntry] = []
            members.reserveCapacity(m)
            for _ in 0..<m {
                members.append(.init(name: try string("syncSummary.member.name"),
                                     generation: try u64("syncSummary.member.generation"),
                                     incarnation: try u64("syncSummary.member.incarnation"),
                                     status: try u8("syncSummary.member.status")))
            }
            let d = try count("syncSummary.digests", minimumElementSize: 17, limit: limits.maxSummaryEntries)
            var digests: [SyncSummary.DigestEntry] = []
            digests.reserveCapacity(d)
            for _ in 0..<d {
                let origin = try string("syncSummary.digest.origin")
                let order = DigestOrder(generation: try u64("syncSummary.digest.generation"),
                                        version: try u64("syncSummary.digest.version"))
                digests.append(.init(origin: origin, order: order))
            }
            return .syncSummary(SyncSummary(sender: sender, members: members, digests: digests, wantsReply: wantsReply))
        case .drain:
            let cluster = try string("drain.cluster")
            guard !cluster.isEmpty else { throw .badValue(field: "drain.cluster", value: 0) }
            let route = try string("drain.route")
            let issuedAt = try u64("drain.issuedAt")
            let until = try u64("drain.until")
            let keyID = KeyID(rawValue: try u64("drain.keyID"))
            let signature = try self.signature("drain.signature", length: 64, optional: false)
            let drain = DrainRecord(cluster: cluster, route: route, issuedAtMillis: issuedAt, untilMillis: until)
            return .drain(SignedDrain(drain: drain, keyID: keyID, signature: signature))
        }
    }
}
