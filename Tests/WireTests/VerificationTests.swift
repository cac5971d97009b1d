import MeshCrypto
import Wire
import XCTest

final class VerificationTests: XCTestCase {
    let c1 = try! SigningKeyPair(seed: Array(repeating: 11, count: 32))
    let c1Next = try! SigningKeyPair(seed: Array(repeating: 12, count: 32))
    let c2 = try! SigningKeyPair(seed: Array(repeating: 21, count: 32))
    let stranger = try! SigningKeyPair(seed: Array(repeating: 99, count: 32))
    let now: UInt64 = 1_764_000_000_000

    var verifier: RecordVerifier {
        RecordVerifier(roster: TrustRoster(["c1": [c1.publicKey, c1Next.publicKey], "c2": [c2.publicKey]]))
    }

    func digest(cluster: String = "c1", version: UInt64 = 5, issuedAt: UInt64? = nil) -> HealthDigest {
        var d = SampleMessages.digest(version: version, issuedAtMillis: issuedAt ?? now)
        d.origin.cluster = cluster
        return d
    }

    func testAValidDigestIsAccepted() {
        XCTAssertNil(verifier.verify(SignedDigest(signing: digest(), with: c1), stored: nil, nowMillis: now))
        XCTAssertNil(verifier.verify(SignedDigest(signing: digest(), with: c1Next), stored: nil, nowMillis: now),
                     "either key of a cluster in rotation is accepted")
    }

    func testUnknownClusterIsRejected() {
        let signed = SignedDigest(signing: digest(cluster: "c9"), with: c1)
        XCTAssertEqual(verifier.verify(signed, stored: nil, nowMillis: now), .unknownCluster("c9"))
    }

    func testKeyOfAnotherClusterIsRejected() {
        // A c2 agent cannot speak for c1, even with a valid signature of its own.
        let signed = SignedDigest(signing: digest(cluster: "c1"), with: c2)
        XCTAssertEqual(verifier.verify(signed, stored: nil, nowMillis: now), .untrustedKey(cluster: "c1", keyID: c2.keyID))
        let strangers = SignedDigest(signing: digest(cluster: "c1"), with: stranger)
        XCTAssertEqual(verifier.verify(strangers, stored: nil, nowMillis: now)?.reason, "untrusted_key")
    }

    func testBadSignatureIsRejected() {
        var signed = SignedDigest(signing: digest(), with: c1)
        signed.digest.version += 1   // changed after signing: a replay with a bumped version
        XCTAssertEqual(verifier.verify(signed, stored: nil, nowMillis: now), .badSignature(origin: "c1-a"))
        var forged = SignedDigest(signing: digest(), with: c1)
        forged.signature[0] ^= 1
        XCTAssertEqual(verifier.verify(forged, stored: nil, nowMillis: now)?.reason, "bad_signature")
    }

    func testOlderOrEqualVersionIsRejected() {
        let signed = SignedDigest(signing: digest(version: 5), with: c1)
        let stored = signed.digest.order
        XCTAssertEqual(verifier.verify(signed, stored: stored, nowMillis: now),
                       .notNewer(origin: "c1-a", received: stored, stored: stored))
        let older = DigestOrder(generation: stored.generation, version: 6)
        XCTAssertEqual(verifier.verify(signed, stored: older, nowMillis: now)?.reason, "not_newer")
        let previousGeneration = DigestOrder(generation: stored.generation - 1, version: 900)
        XCTAssertNil(verifier.verify(signed, stored: previousGeneration, nowMillis: now), "a new generation restarts versions")
    }

    func testFutureTimestampIsRejected() {
        let signed = SignedDigest(signing: digest(issuedAt: now + 60_000), with: c1)
        XCTAssertEqual(verifier.verify(signed, stored: nil, nowMillis: now), .fromTheFuture(origin: "c1-a", aheadMillis: 60_000))
        let skewed = SignedDigest(signing: digest(issuedAt: now + 5_000), with: c1)
        XCTAssertNil(verifier.verify(skewed, stored: nil, nowMillis: now), "small clock skew is tolerated")
    }

    func testSignaturesSurviveTheWire() throws {
        let signed = SignedDigest(signing: digest(), with: c1)
        let decoded = try WireEncoding.decodePacket(WireEncoding.encodePacket([.digest(signed)]))
        guard case .digest(let back) = decoded.first else { return XCTFail("not a digest") }
        XCTAssertNil(verifier.verify(back, stored: nil, nowMillis: now))
    }

    func testMemberRecords() {
        let identity = MemberIdentity(name: "c1-a", cluster: "c1", generation: 3)
        let record = MemberRecord(identity: identity, address: SampleMessages.address, incarnation: 1, status: .alive)
        XCTAssertNil(verifier.verify(SignedMemberRecord(signing: record, with: c1)))
        XCTAssertEqual(verifier.verify(SignedMemberRecord(signing: record, with: c2)), .untrustedKey(cluster: "c1", keyID: c2.keyID))
        XCTAssertEqual(verifier.verify(SignedMemberRecord(signing: record, with: Optional<SigningKeyPair>.none)), .unsigned(origin: "c1-a"))
        var revived = SignedMemberRecord(signing: record, with: c1)
        revived.record.incarnation = 2   // a relay may not raise someone else's incarnation
        XCTAssertEqual(verifier.verify(revived), .badSignature(origin: "c1-a"))
        let gateway = MemberRecord(identity: MemberIdentity(name: "gw", cluster: "", generation: 1),
                                   address: SampleMessages.address, incarnation: 0, status: .alive)
        XCTAssertNil(verifier.verify(SignedMemberRecord(signing: gateway, with: Optional<SigningKeyPair>.none)))
    }
}
