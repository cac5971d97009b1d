import MeshCrypto
import NIOCore
import SeededRandom
import Wire
import XCTest

final class CodecTests: XCTestCase {
    let signer = try! SigningKeyPair(seed: Array(repeating: 1, count: 32))

    func testEveryMessageTypeRoundTrips() throws {
        for message in SampleMessages.all(signer: signer) {
            let packet = WireEncoding.encodePacket([message])
            XCTAssertEqual(try WireEncoding.decodePacket(packet), [message], "\(message)")
            XCTAssertEqual(packet.readableBytes, WireEncoding.packetSize(messageSizes: [WireEncoding.encodedSize(of: message)]))
        }
    }

    func testCompoundPacketRoundTripsAndFitsTheBudget() throws {
        let messages = SampleMessages.all(signer: signer)
        let packet = WireEncoding.encodePacket(messages)
        XCTAssertEqual(try WireEncoding.decodePacket(packet), messages)
        XCTAssertEqual(packet.readableBytes, WireEncoding.packetSize(messageSizes: messages.map(WireEncoding.encodedSize(of:))))
        XCTAssertLessThanOrEqual(packet.readableBytes, WireEncoding.datagramBudget)
    }

    func testIPv6AndAddressParsing() {
        XCTAssertEqual(PeerAddress("127.0.0.1:7001")?.description, "127.0.0.1:7001")
        XCTAssertEqual(PeerAddress("[::1]:7001")?.host, .v6(0, 1))
        XCTAssertEqual(PeerAddress("[fe80::1:2]:80")?.description, "[fe80:0:0:0:0:0:1:2]:80")
        for bad in ["127.0.0.1", "127.0.0.256:1", "1.2.3:4", "host:99999", "[::1:7001", "a.b.c.d:1", ":1"] {
            XCTAssertNil(PeerAddress(bad), bad)
        }
    }

    func testDigestEndpointsAreCanonicalised() {
        let e1 = EndpointHealth(service: "s", host: "10.0.0.2", port: 80, state: .healthy)
        let e2 = EndpointHealth(service: "s", host: "10.0.0.1", port: 80, state: .healthy)
        let e2bad = EndpointHealth(service: "s", host: "10.0.0.1", port: 80, state: .unhealthy)
        let id = MemberIdentity(name: "n", cluster: "c", generation: 1)
        let d = HealthDigest(origin: id, incarnation: 0, version: 1, issuedAtMillis: 0, endpoints: [e1, e2, e2bad])
        XCTAssertEqual(d.endpoints.map(\.host), ["10.0.0.1", "10.0.0.2"])
        XCTAssertEqual(d.endpoints.first?.state, .unhealthy, "a duplicate reported unhealthy once counts as unhealthy")
    }
}

final class MalformedInputTests: XCTestCase {
    let valid = Array(WireEncoding.encodePacket(SampleMessages.all(signer: try! SigningKeyPair(seed: Array(repeating: 2, count: 32)))).readableBytesView)

    private func decodeError(_ bytes: [UInt8], limits: WireLimits = .datagram) -> WireError? {
        do {
            _ = try WireEncoding.decodePacket(bytes, limits: limits)
            return nil
        } catch { return error }
    }

    func testEveryTruncationIsATypedError() {
        for length in 0..<valid.count {
            XCTAssertNotNil(decodeError(Array(valid.prefix(length))), "prefix of \(length) bytes decoded")
        }
    }

    func testHeaderErrors() {
        XCTAssertEqual(decodeError([0x00, 0x41, 1, 0]), .badMagic)
        XCTAssertEqual(decodeError([0x5A, 0x41, 2, 0]), .unsupportedVersion(2))
        XCTAssertEqual(decodeError([0x5A, 0x41, 1, 1, 99, 0]), .unknownMessageType(99))
        XCTAssertEqual(decodeError([0x5A, 0x41, 1, 0, 0]), .trailingBytes(field: "packet", count: 1))
        XCTAssertEqual(decodeError([0x5A, 0x41, 1, 0x80, 0x00]), .overlongVarint(field: "message count"))
        XCTAssertEqual(decodeError([0x5A, 0x41, 1] + Array(repeating: 0xFF, count: 10) + [1]), .overlongVarint(field: "message count"))
    }

    func testHugeCountsAreRefusedBeforeAllocating() {
        // Claims 2^40 messages in a 10-byte packet.
        XCTAssertEqual(decodeError([0x5A, 0x41, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20]),
                       .tooLarge(field: "message count", limit: WireLimits.datagram.maxMessages))
        XCTAssertEqual(decodeError([0x5A, 0x41, 1, 0x7F, 1, 0]), .truncated(field: "message count"))
        var tooBig = [UInt8](repeating: 0, count: 70_000)
        tooBig[0] = 0x5A
        XCTAssertEqual(decodeError(tooBig), .tooLarge(field: "packet", limit: WireLimits.datagram.maxPacketBytes))
    }

    func testBadFieldValuesAreNamed() {
        // A ping whose source string claims 300 bytes.
        let longString: [UInt8] = [0x5A, 0x41, 1, 1, 1, 8, 0, 0, 0, 1, 0xAC, 0x02, 0, 0]
        XCTAssertEqual(decodeError(longString), .tooLarge(field: "ping.source", limit: 253))
        // An ack whose source is not UTF-8.
        XCTAssertEqual(decodeError([0x5A, 0x41, 1, 1, 3, 6, 0, 0, 0, 1, 1, 0xFF]), .invalidUTF8(field: "ack.source"))
        // A message body with a byte left over.
        XCTAssertEqual(decodeError([0x5A, 0x41, 1, 1, 3, 7, 0, 0, 0, 1, 1, 0x61, 0]), .trailingBytes(field: "message type 3", count: 1))
        // An accusation of kind 3.
        XCTAssertEqual(decodeError([0x5A, 0x41, 1, 1, 6, 1, 3]), .badValue(field: "accusation.kind", value: 3))
    }

    func testNonCanonicalDigestIsRefused() throws {
        let signer = try SigningKeyPair(seed: Array(repeating: 3, count: 32))
        let endpoints = ["10.0.0.1", "10.0.0.2"].map { EndpointHealth(service: "s", host: $0, port: 80, state: .healthy) }
        let digest = HealthDigest(origin: MemberIdentity(name: "n", cluster: "c1", generation: 1), incarnation: 0,
                                  version: 1, issuedAtMillis: 0, endpoints: endpoints)
        let buffer = WireEncoding.encodePacket([.digest(SignedDigest(signing: digest, with: signer))])
        var bytes = Array(buffer.readableBytesView)
        // Swap the last byte of the two endpoint hosts ("10.0.0.1" and "10.0.0.2") so they are out of order.
        let first = try XCTUnwrap(bytes.firstRange(of: Array("10.0.0.1".utf8)))
        let second = try XCTUnwrap(bytes.firstRange(of: Array("10.0.0.2".utf8)))
        bytes.swapAt(first.upperBound - 1, second.upperBound - 1)
        XCTAssertEqual(decodeError(bytes), .nonCanonical(field: "digest.endpoints"))
    }

    func testSeededMutationsNeverCrash() {
        // The fuzzer explores far more; this keeps a deterministic slice of it in every test run.
        var rng = SplitMix64(seed: 42)
        var decoded = 0
        for _ in 0..<20_000 {
            var bytes = valid
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                switch rng.next() % 3 {
                case 0: bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
                case 1: bytes.removeSubrange(Int(rng.next() % UInt64(bytes.count))...)
                default: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: Int(rng.next() % UInt64(bytes.count)))
                }
                if bytes.isEmpty { bytes = [0] }
            }
            if (try? WireEncoding.decodePacket(bytes)) != nil { decoded += 1 }
        }
        XCTAssertLessThan(decoded, 20_000)
    }
}
