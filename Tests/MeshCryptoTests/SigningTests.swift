import Foundation
import MeshCrypto
import XCTest

final class SigningTests: XCTestCase {
    func testSignatureVerifiesUnderItsKeyOnly() {
        let a = SigningKeyPair.generate()
        let b = SigningKeyPair.generate()
        let message = Array("c1 is healthy".utf8)
        let signature = a.sign(message)
        let verifier = Ed25519Verifier()
        XCTAssertTrue(verifier.isValid(signature: signature, of: message, by: a.publicKey))
        XCTAssertFalse(verifier.isValid(signature: signature, of: message, by: b.publicKey))
        XCTAssertFalse(verifier.isValid(signature: signature, of: message + [0], by: a.publicKey))
        var flipped = signature
        flipped[10] ^= 1
        XCTAssertFalse(verifier.isValid(signature: flipped, of: message, by: a.publicKey))
        XCTAssertFalse(verifier.isValid(signature: Array(signature.prefix(63)), of: message, by: a.publicKey))
    }

    func testSeedRoundTripGivesTheSameKey() throws {
        let a = SigningKeyPair.generate()
        let b = try SigningKeyPair(seed: a.seed)
        XCTAssertEqual(a.publicKey, b.publicKey)
        XCTAssertEqual(a.keyID, b.keyID)
        XCTAssertThrowsError(try SigningKeyPair(seed: [1, 2, 3]))
    }

    func testPublicKeyBase64RoundTrip() {
        let a = SigningKeyPair.generate()
        XCTAssertEqual(PublicKey(base64: a.publicKey.base64), a.publicKey)
        XCTAssertNil(PublicKey(base64: "not base64"))
        XCTAssertNil(PublicKey(base64: "AAAA"))
    }

    func testBlake2bIsStableAndSized() {
        let h1 = ContentHash.blake2b(Array("abc".utf8))
        let h2 = ContentHash.blake2b(Array("abc".utf8))
        XCTAssertEqual(h1, h2)
        XCTAssertEqual(h1.count, 32)
        XCTAssertNotEqual(h1, ContentHash.blake2b(Array("abd".utf8)))
        // The BLAKE2b-256 test vector of "abc" (RFC 7693 appendix lists BLAKE2b-512; this is the 256-bit variant).
        XCTAssertEqual(ContentHash.hex(Array("abc".utf8)),
                       "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319")
    }
}

final class KeyringTests: XCTestCase {
    let plaintext = Array(repeating: UInt8(7), count: 300)
    let t: UInt64 = 1_764_000_000_000

    func testSealOpenRoundTrip() throws {
        let ring = Keyring(primary: .generate(), meshName: "prod")
        let sealed = ring.seal(plaintext, sentAtMillis: t)
        XCTAssertEqual(sealed.count, plaintext.count + Keyring.overhead)
        XCTAssertEqual(try ring.open(sealed).plaintext, plaintext)
        XCTAssertEqual(try ring.open(sealed).sentAtMillis, t)
        XCTAssertNotEqual(ring.seal(plaintext, sentAtMillis: t), sealed, "every seal uses a fresh nonce")
    }

    func testWrongKeyFails() {
        let sender = Keyring(primary: .generate(), meshName: "prod")
        let receiver = Keyring(primary: .generate(), meshName: "prod")
        XCTAssertThrowsError(try receiver.open(sender.seal(plaintext, sentAtMillis: t))) { XCTAssertEqual($0 as? CryptoError, .noKeyOpens) }
    }

    func testWrongMeshNameFails() {
        let key = MeshKey.generate()
        let sender = Keyring(primary: key, meshName: "prod")
        let neighbour = Keyring(primary: key, meshName: "staging")
        XCTAssertThrowsError(try neighbour.open(sender.seal(plaintext, sentAtMillis: t))) { XCTAssertEqual($0 as? CryptoError, .noKeyOpens) }
    }

    func testTamperedPacketFails() {
        let ring = Keyring(primary: .generate(), meshName: "prod")
        var sealed = ring.seal(plaintext, sentAtMillis: t)
        sealed[40] ^= 0x80
        XCTAssertThrowsError(try ring.open(sealed)) { XCTAssertEqual($0 as? CryptoError, .noKeyOpens) }
        XCTAssertThrowsError(try ring.open(Array(sealed.prefix(10)))) {
            XCTAssertEqual($0 as? CryptoError, .sealedPacketTooShort(10))
        }
        var badVersion = ring.seal(plaintext, sentAtMillis: t)
        badVersion[0] = 9
        XCTAssertThrowsError(try ring.open(badVersion)) { XCTAssertEqual($0 as? CryptoError, .unsupportedSealVersion(9)) }
    }

    func testRotationAcceptsTheRotatedInKey() throws {
        let old = MeshKey.generate()
        let new = MeshKey.generate()
        // Step 1 of a rotation: everyone accepts the new key while still sending with the old one.
        let stillOld = Keyring(primary: old, accepted: [new], meshName: "prod")
        // Step 2: some members already send with the new key.
        let alreadyNew = Keyring(primary: new, accepted: [old], meshName: "prod")
        XCTAssertEqual(try stillOld.open(alreadyNew.seal(plaintext, sentAtMillis: t)).plaintext, plaintext)
        XCTAssertEqual(try alreadyNew.open(stillOld.seal(plaintext, sentAtMillis: t)).plaintext, plaintext)
        // Step 3: the old key is dropped; its packets are refused.
        let done = Keyring(primary: new, meshName: "prod")
        XCTAssertThrowsError(try done.open(stillOld.seal(plaintext, sentAtMillis: t)))
    }
}

final class TrustRosterTests: XCTestCase {
    func testParsesClustersWithSeveralKeys() throws {
        let a = SigningKeyPair.generate(), b = SigningKeyPair.generate(), c = SigningKeyPair.generate()
        let yaml = """
        clusters:
          c1: [\(a.publicKey.base64), \(b.publicKey.base64)]
          c2:
            - \(c.publicKey.base64)
        """
        let roster = try TrustRoster(yaml: yaml)
        XCTAssertEqual(roster.clusters, ["c1", "c2"])
        XCTAssertEqual(roster.key(b.keyID, forCluster: "c1"), b.publicKey)
        XCTAssertNil(roster.key(c.keyID, forCluster: "c1"))
        XCTAssertEqual(try TrustRoster(yaml: roster.yaml), roster)
    }

    func testRejectsWhatIsWrongByName() {
        let good = SigningKeyPair.generate().publicKey.base64
        let cases: [(String, String)] = [
            ("clusters:\n  c1: [notakey]\n", "`clusters.c1[0]` is not a base64 Ed25519 public key"),
            ("clusterz:\n  c1: [\(good)]\n", "`clusterz` is not a known key"),
            ("clusters:\n  c1: []\n", "`clusters.c1` lists no key"),
            ("clusters:\n  c1: [\(good)]\n  c2: [\(good)]\n", "reuses a key already trusted for cluster c1"),
            ("- a\n- b\n", "must be a mapping"),
            ("{", "is not valid YAML"),
        ]
        for (yaml, expected) in cases {
            XCTAssertThrowsError(try TrustRoster(yaml: yaml, source: "keys/trust.yaml"), yaml) { error in
                let text = String(describing: error)
                XCTAssertTrue(text.hasPrefix("keys/trust.yaml"), text)
                XCTAssertTrue(text.contains(expected), "\(text) lacks \(expected)")
            }
        }
    }
}

final class KeyFileTests: XCTestCase {
    func testClusterKeyFilesRoundTripWithSecretMode() throws {
        let dir = NSTemporaryDirectory() + "keys-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pair = try KeyFiles.writeClusterKey(cluster: "c1", directory: dir)
        let mode = try FileManager.default.attributesOfItem(atPath: dir + "/c1.key")[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o600)
        XCTAssertEqual(try KeyFiles.readSigningKey(path: dir + "/c1.key").publicKey, pair.publicKey)
        XCTAssertEqual(try KeyFiles.readPublicKey(path: dir + "/c1.pub"), pair.publicKey)
        let firstLine = try String(contentsOfFile: dir + "/c1.pub", encoding: .utf8).split(separator: "\n").first
        XCTAssertEqual(firstLine.map(String.init), pair.publicKey.base64)
        XCTAssertThrowsError(try KeyFiles.writeClusterKey(cluster: "c1", directory: dir)) {
            XCTAssertEqual($0 as? KeyFileError, .exists(path: dir + "/c1.key"))
        }
        let replaced = try KeyFiles.writeClusterKey(cluster: "c1", directory: dir, force: true)
        XCTAssertNotEqual(replaced.publicKey, pair.publicKey)
    }

    func testMeshKeyFileHoldsPrimaryThenAccepted() throws {
        let dir = NSTemporaryDirectory() + "mesh-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let key = try KeyFiles.writeMeshKey(directory: dir)
        XCTAssertEqual(try KeyFiles.readMeshKeys(path: dir + "/mesh.key").primary, key)
        let extra = MeshKey.generate()
        try (key.base64 + "\n" + extra.base64 + "\n").write(toFile: dir + "/mesh.key", atomically: true, encoding: .utf8)
        chmod(dir + "/mesh.key", 0o600)   // a secret: written by hand, it must be made owner-only, as ssh demands
        let ring = try KeyFiles.readMeshKeys(path: dir + "/mesh.key")
        XCTAssertEqual(ring.accepted, [extra])
        try "garbage\n".write(toFile: dir + "/mesh.key", atomically: true, encoding: .utf8)
        chmod(dir + "/mesh.key", 0o600)
        XCTAssertThrowsError(try KeyFiles.readMeshKeys(path: dir + "/mesh.key")) {
            XCTAssertTrue(String(describing: $0).contains("line 1 is not a base64 mesh key"))
        }
        XCTAssertThrowsError(try KeyFiles.readSigningKey(path: dir + "/missing.key")) {
            XCTAssertEqual($0 as? KeyFileError, .unreadable(path: dir + "/missing.key"))
        }
    }
}
