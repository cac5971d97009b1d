import MeshCrypto
import NIOCore
@testable import Wire
import XCTest

/// The decoder's shortcuts (a service string reused from the endpoint before, one-byte lengths read at once, the
/// empty string made without decoding, signatures copied in one go) change no decoded value, and the header size
/// is the one the encoder writes.
final class DecoderShortcutTests: XCTestCase {
    let signer = try! SigningKeyPair(seed: Array(repeating: 3, count: 32))

    func testServicesThatRepeatOrNearlyRepeatDecodeToThemselves() throws {
        // Same length, different bytes; a service coming back after another; a prefix; the empty service; non-ASCII.
        let services = ["svc-a", "svc-a", "svc-b", "svc-b", "svc-bb", "", "żółw/ü", "svc-a"]
        let endpoints = services.enumerated().map { i, service in
            EndpointHealth(service: service, host: "10.0.0.\(i)", port: UInt16(8000 + i), state: .healthy)
        }
        let digest = HealthDigest(origin: MemberIdentity(name: "n", cluster: "", zone: "", generation: 1), incarnation: 0,
                                  version: 1, issuedAtMillis: 0, endpoints: endpoints)
        let message = GossipMessage.digest(SignedDigest(signing: digest, with: signer))
        let decoded = try WireEncoding.decodePacket(WireEncoding.encodePacket([message]))
        XCTAssertEqual(decoded, [message])
        guard case .digest(let back) = decoded.first else { return XCTFail("not a digest") }
        XCTAssertEqual(back.digest.endpoints.map(\.service), digest.endpoints.map(\.service))
        XCTAssertEqual(back.digest.origin.cluster, "")
    }

    func testLongLengthsStillDecode() throws {
        // A body and a count past 127 take a two-byte varint: the one-byte shortcut must leave them alone.
        let endpoints = (0..<600).map { EndpointHealth(service: "gateway-demo/service1", host: "10.0.\($0 / 250).\($0 % 250)", port: 80, state: .healthy) }
        let digest = HealthDigest(origin: MemberIdentity(name: String(repeating: "x", count: 200), cluster: "c1", generation: 1),
                                  incarnation: 0, version: 1, issuedAtMillis: 0, endpoints: endpoints)
        let message = GossipMessage.digest(SignedDigest(signing: digest, with: signer))
        let packet = WireEncoding.encodePacket([message])
        XCTAssertEqual(try WireEncoding.decodePacket(packet, limits: .syncFrame), [message])
        // A body past 16,383 bytes takes a three-byte length, moved into place after the body is written; the size
        // the core counts without encoding agrees.
        XCTAssertGreaterThan(packet.readableBytes, 16_384)
        XCTAssertEqual(packet.readableBytes, WireEncoding.packetSize(messageSizes: [WireEncoding.encodedSize(of: message)]))
        let accusation = GossipMessage.accusation(Accusation(kind: .dead, target: String(repeating: "é", count: 100), generation: 1,
                                                             incarnation: 2, accuser: String(repeating: "a", count: 130)))
        let mixed = [accusation, message, .ack(Ack(sequence: 1, source: ""))]
        let bytes = WireEncoding.encodePacket(mixed)
        XCTAssertEqual(bytes.readableBytes, WireEncoding.packetSize(messageSizes: mixed.map(WireEncoding.encodedSize(of:))))
        XCTAssertEqual(try WireEncoding.decodePacket(bytes, limits: .syncFrame), mixed)
    }

    func testAnOverlongOneByteLengthIsStillRefused() throws {
        // 0x80 0x00 encodes zero in two bytes: not the shortest form.
        var packet = ByteBuffer(bytes: [0x5A, 0x41, WireEncoding.version, 0x80, 0x00])
        XCTAssertThrowsError(try WireEncoding.decodePacket(packet)) { XCTAssertEqual($0 as? WireError, .overlongVarint(field: "message count")) }
        packet = ByteBuffer(bytes: [0x5A, 0x41, WireEncoding.version, 0x00])
        XCTAssertEqual(try WireEncoding.decodePacket(packet), [])
    }

    func testHeaderSizeIsWhatTheEncoderWrites() {
        let ack = GossipMessage.ack(Ack(sequence: 1, source: "a"))
        for count in [0, 1, 127, 128, 300] {
            let messages = Array(repeating: ack, count: count)
            let packet = WireEncoding.encodePacket(messages)
            let body = count * WireEncoding.encodedSize(of: ack)
            XCTAssertEqual(packet.readableBytes - body, WireEncoding.packetHeaderSize(messageCount: count), "\(count) messages")
            XCTAssertEqual(packet.readableBytes, WireEncoding.packetSize(messageSizes: Array(repeating: WireEncoding.encodedSize(of: ack), count: count)))
        }
        XCTAssertEqual(WireEncoding.packetHeaderSize, WireEncoding.encodePacket([]).readableBytes, "the fewest bytes a packet has")
    }
}

/// Names made straight as small `String`s from the packet's bytes (`SmallASCII`) and signatures kept inline in a
/// member record (`SignatureBytes`) are the values the public ways make: equal, hashing alike, behaving alike.
final class InPlaceValueTests: XCTestCase {
    func testTheSmallStringLayoutIsConfirmedHere() {
        // Otherwise the shortcut is silently off and the tests below prove only the fallback.
        XCTAssertTrue(SmallASCII.layoutHolds)
    }

    func testShortStringsOfEveryLengthDecodeToTheStringsTheStandardLibraryMakes() throws {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789-./:".utf8)
        for length in 0...20 {
            for variant in ["ascii", "non-ascii", "high-last"] {
                var bytes = (0..<length).map { alphabet[($0 * 7 + length) % alphabet.count] }
                if variant == "non-ascii", length >= 2 { bytes[0] = 0xC3; bytes[1] = 0xA9 }          // é
                if variant == "high-last", length >= 2 { bytes[length - 2] = 0xC3; bytes[length - 1] = 0xBC }   // ü at the end
                let expected = String(decoding: bytes, as: UTF8.self)
                // The name last in the packet (the copy near its end) and first in it (two whole words read).
                let last = GossipMessage.ack(Ack(sequence: 1, source: expected))
                let first = GossipMessage.accusation(Accusation(kind: .suspect, target: expected, generation: 1, incarnation: 2, accuser: "x"))
                let decoded = try WireEncoding.decodePacket(WireEncoding.encodePacket([first, last]))
                guard case .accusation(let a) = decoded[0], case .ack(let b) = decoded[1] else { return XCTFail("kinds") }
                for got in [a.target, b.source] {
                    XCTAssertEqual(got, expected, "\(variant) \(length)")
                    XCTAssertEqual(Array(got.utf8), bytes, "\(variant) \(length)")
                    XCTAssertEqual(got.hashValue, expected.hashValue, "\(variant) \(length)")
                    XCTAssertEqual(got.count, expected.count, "\(variant) \(length)")
                    XCTAssertEqual(got < "m", expected < "m", "\(variant) \(length)")
                    var grown = got
                    grown += "+tail"
                    XCTAssertEqual(grown, expected + "+tail", "\(variant) \(length)")
                    XCTAssertEqual(Set([got, expected]).count, 1, "\(variant) \(length)")
                }
            }
        }
    }

    func testMemberSignaturesOfEveryLengthSurviveTheirBox() throws {
        let identity = MemberIdentity(name: "c1-a", cluster: "c1", zone: "zone-a", generation: 5)
        let record = MemberRecord(identity: identity, address: SampleMessages.address, incarnation: 2, status: .alive)
        for length in [0, 1, 8, 63, 64] {
            let signature = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let signed = SignedMemberRecord(record: record, keyID: KeyID(rawValue: 9), signature: signature)
            XCTAssertEqual(signed.signature, signature, "\(length)")
            XCTAssertEqual(signed.isSigned, length > 0, "\(length)")
            let same = SignedMemberRecord(record: record, keyID: KeyID(rawValue: 9), signature: signature)
            XCTAssertEqual(signed, same, "\(length)")
            XCTAssertEqual(signed.hashValue, same.hashValue, "\(length)")
            var flipped = signature
            if length > 0 { flipped[length - 1] ^= 1 }
            let other = SignedMemberRecord(record: record, keyID: KeyID(rawValue: 9), signature: flipped + (length == 0 ? [1] : []))
            XCTAssertNotEqual(signed, other, "\(length)")
            var changed = signed
            changed.keyID = KeyID(rawValue: 10)
            XCTAssertEqual(changed.signature, signature, "a changed key id keeps the signature (\(length))")
        }
        // What the wire admits (none or 64 bytes) comes back from a packet equal to what was sent, and re-encodes alike.
        for signature in [[UInt8](), [UInt8](repeating: 0xEE, count: 64)] {
            let message = GossipMessage.member(SignedMemberRecord(record: record, keyID: KeyID(rawValue: 3), signature: signature))
            let packet = WireEncoding.encodePacket([message])
            let decoded = try WireEncoding.decodePacket(packet)
            XCTAssertEqual(decoded, [message])
            XCTAssertEqual(decoded.first.map { $0.hashValue }, message.hashValue)
            XCTAssertEqual(WireEncoding.encodePacket(decoded), packet)
        }
    }
}
