import MeshCrypto
import NIOCore
import Wire
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
        let endpoints = (0..<200).map { EndpointHealth(service: "gateway-demo/service1", host: "10.0.\($0 / 250).\($0 % 250)", port: 80, state: .healthy) }
        let digest = HealthDigest(origin: MemberIdentity(name: String(repeating: "x", count: 200), cluster: "c1", generation: 1),
                                  incarnation: 0, version: 1, issuedAtMillis: 0, endpoints: endpoints)
        let message = GossipMessage.digest(SignedDigest(signing: digest, with: signer))
        XCTAssertEqual(try WireEncoding.decodePacket(WireEncoding.encodePacket([message]), limits: .syncFrame), [message])
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
