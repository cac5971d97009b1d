import MeshCrypto
import XCTest

/// trust.yaml's `operators`: the keys that may sign drain orders, apart from every cluster's keys.
final class OperatorRosterTests: XCTestCase {
    func testParsesOperatorsBesideClusters() throws {
        let c1 = SigningKeyPair.generate(), alice = SigningKeyPair.generate(), bob = SigningKeyPair.generate()
        let roster = try TrustRoster(yaml: """
        clusters:
          c1: [\(c1.publicKey.base64)]
        operators:
          - \(alice.publicKey.base64)
          - \(bob.publicKey.base64)
        """)
        XCTAssertEqual(roster.operators, [alice.publicKey, bob.publicKey])
        XCTAssertEqual(roster.operatorKey(bob.keyID), bob.publicKey)
        XCTAssertNil(roster.operatorKey(c1.keyID), "a cluster key is not an operator key")
        XCTAssertNil(roster.key(alice.keyID, forCluster: "c1"), "nor an operator key a cluster key")
        XCTAssertEqual(try TrustRoster(yaml: roster.yaml), roster, "the written form reads back the same")
        XCTAssertNotEqual(roster, TrustRoster(roster.keysByCluster), "operators count in equality (a reload that changes them applies)")
    }

    func testARosterWithoutOperatorsHasNone() throws {
        let roster = try TrustRoster(yaml: "clusters:\n  c1: [\(SigningKeyPair.generate().publicKey.base64)]\n")
        XCTAssertEqual(roster.operators, [])
        XCTAssertFalse(roster.yaml.contains("operators"))
    }

    func testRefusesBadOperatorKeysByName() {
        let c1 = SigningKeyPair.generate().publicKey.base64
        let cases: [(String, String)] = [
            ("clusters:\n  c1: [\(c1)]\noperators: [notakey]\n", "`operators[0]` is not a base64 Ed25519 public key"),
            ("clusters:\n  c1: [\(c1)]\noperators: [\(c1)]\n", "`operators[0]` is cluster c1's key"),
            ("clusters:\n  c1: [\(c1)]\noperators: {a: b}\n", "`operators` must be a list of base64 public keys"),
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
