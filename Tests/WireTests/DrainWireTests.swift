import MeshCrypto
import Wire
import XCTest

/// Drain orders on the wire: the exact bytes survive a round trip, anything malformed, truncated or forged is
/// refused, and only an operator key of the roster may sign one.
final class DrainWireTests: XCTestCase {
    let operatorKey = try! SigningKeyPair(seed: Array(repeating: 41, count: 32))
    let c1 = try! SigningKeyPair(seed: Array(repeating: 11, count: 32))
    let stranger = try! SigningKeyPair(seed: Array(repeating: 99, count: 32))
    let now: UInt64 = 1_764_000_000_000

    var verifier: RecordVerifier {
        RecordVerifier(roster: TrustRoster(["c1": [c1.publicKey]], operators: [operatorKey.publicKey]))
    }

    func drain(route: String = "", until: UInt64? = nil) -> DrainRecord {
        DrainRecord(cluster: "c2", route: route, issuedAtMillis: now, untilMillis: until ?? now + 30 * 60_000)
    }

    func testARoundTripKeepsEveryField() throws {
        let signed = SignedDrain(signing: drain(route: "shop.example.com/"), with: operatorKey)
        XCTAssertEqual(try SignedDrain.decode(packet: signed.packet), signed)
        let packet = WireEncoding.encodePacket([.drain(signed), .ack(Ack(sequence: 1, source: "a"))])
        XCTAssertEqual(try WireEncoding.decodePacket(packet), [.drain(signed), .ack(Ack(sequence: 1, source: "a"))])
        XCTAssertNil(verifier.verify(try SignedDrain.decode(packet: signed.packet), nowMillis: now))
    }

    func testEveryTruncationIsRefusedWithoutACrash() {
        let bytes = SignedDrain(signing: drain(), with: operatorKey).packet
        for length in 0..<bytes.count {
            XCTAssertThrowsError(try SignedDrain.decode(packet: Array(bytes.prefix(length))), "\(length) of \(bytes.count) bytes")
        }
        XCTAssertThrowsError(try SignedDrain.decode(packet: bytes + [0]), "trailing bytes")
    }

    func testMalformedOrdersAreRefused() {
        // An empty cluster name.
        var empty = SignedDrain(signing: drain(), with: operatorKey)
        empty.drain.cluster = ""
        XCTAssertThrowsError(try SignedDrain.decode(packet: empty.packet))
        // A short signature.
        var short = SignedDrain(signing: drain(), with: operatorKey)
        short.signature = Array(short.signature.prefix(10))
        XCTAssertThrowsError(try SignedDrain.decode(packet: short.packet))
        // Not one drain: two of them, or another message.
        let two = Array(WireEncoding.encodePacket([.drain(empty), .drain(empty)]).readableBytesView)
        XCTAssertThrowsError(try SignedDrain.decode(packet: two))
        let other = Array(WireEncoding.encodePacket([.ack(Ack(sequence: 1, source: "a"))]).readableBytesView)
        XCTAssertThrowsError(try SignedDrain.decode(packet: other))
        XCTAssertThrowsError(try SignedDrain.decode(packet: []))
        XCTAssertThrowsError(try SignedDrain.decode(packet: Array(repeating: 0xFF, count: 5000)))
    }

    func testEverySingleBitFlipIsRefusedOrFailsVerification() {
        let bytes = SignedDrain(signing: drain(), with: operatorKey).packet
        for i in 0..<bytes.count {
            for bit in 0..<8 {
                var flipped = bytes
                flipped[i] ^= UInt8(1 << bit)
                guard let decoded = try? SignedDrain.decode(packet: flipped) else { continue }
                XCTAssertNotNil(verifier.verify(decoded, nowMillis: now), "byte \(i) bit \(bit) still verifies")
            }
        }
    }

    func testOnlyAnOperatorKeyOfTheRosterMaySign() {
        XCTAssertNil(verifier.verify(SignedDrain(signing: drain(), with: operatorKey), nowMillis: now))
        XCTAssertEqual(verifier.verify(SignedDrain(signing: drain(), with: c1), nowMillis: now), .untrustedOperator(keyID: c1.keyID),
                       "a cluster key is not an operator key")
        XCTAssertEqual(verifier.verify(SignedDrain(signing: drain(), with: stranger), nowMillis: now)?.reason, "untrusted_operator")
        // Signed by the operator, then changed: a longer drain, or another cluster.
        var longer = SignedDrain(signing: drain(), with: operatorKey)
        longer.drain.untilMillis += 60_000
        XCTAssertEqual(verifier.verify(longer, nowMillis: now)?.reason, "bad_signature")
        var other = SignedDrain(signing: drain(), with: operatorKey)
        other.drain.cluster = "c1"
        XCTAssertEqual(verifier.verify(other, nowMillis: now)?.reason, "bad_signature")
        // A key id of the operator with a stranger's signature.
        var borrowed = SignedDrain(signing: drain(), with: stranger)
        borrowed.keyID = operatorKey.keyID
        XCTAssertEqual(verifier.verify(borrowed, nowMillis: now)?.reason, "bad_signature")
    }

    func testTooLongAndFutureOrdersAreRefused() {
        let week = DrainRecord(cluster: "c2", issuedAtMillis: now, untilMillis: now + DrainRules.maxDurationMillis + 1)
        XCTAssertEqual(verifier.verify(SignedDrain(signing: week, with: operatorKey), nowMillis: now)?.reason, "drain_too_long")
        let future = DrainRecord(cluster: "c2", issuedAtMillis: now + 3_600_000, untilMillis: now + 7_200_000)
        XCTAssertEqual(verifier.verify(SignedDrain(signing: future, with: operatorKey), nowMillis: now)?.reason, "future_timestamp")
        let undrain = DrainRecord(cluster: "c2", issuedAtMillis: now, untilMillis: now)
        XCTAssertTrue(undrain.isUndrain)
        XCTAssertNil(verifier.verify(SignedDrain(signing: undrain, with: operatorKey), nowMillis: now))
    }
}
