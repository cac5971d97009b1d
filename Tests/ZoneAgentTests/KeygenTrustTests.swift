import Foundation
import MeshCrypto
import XCTest

@testable import ZoneAgent

/// `zone-agent keygen --trust FILE` writes the trust roster that kustomize turns into a ConfigMap, so no public key
/// is pasted by hand (issue 14: the same key used to be pasted into three files).
final class KeygenTrustTests: XCTestCase {
    func temporaryDirectory() -> String {
        let dir = NSTemporaryDirectory() + "keygen-trust-\(UUID().uuidString)"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    func roster(_ path: String) throws -> TrustRoster {
        try TrustRoster(yaml: String(contentsOfFile: path, encoding: .utf8), source: path)
    }

    func testEachClusterKeyIsAddedToTheRosterItNames() throws {
        let dir = temporaryDirectory()
        let trust = dir + "/trust.yaml"
        try KeygenCommand.parse(["--cluster", "c1", "--out", dir + "/c1", "--trust", trust]).run()
        try KeygenCommand.parse(["--cluster", "c2", "--out", dir + "/c2", "--trust", trust]).run()
        let c1 = try KeyFiles.readPublicKey(path: dir + "/c1/c1.pub")
        let c2 = try KeyFiles.readPublicKey(path: dir + "/c2/c2.pub")
        XCTAssertEqual(try roster(trust).keysByCluster, ["c1": [c1], "c2": [c2]])
        let mode = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: trust)[.posixPermissions] as? Int)
        XCTAssertEqual(mode & 0o777, 0o644, "public keys: readable, as a ConfigMap is")
        XCTAssertFalse(FileManager.default.fileExists(atPath: trust + ".tmp"))
    }

    func testANewKeyForAClusterIsARotationNotAReplacement() throws {
        let dir = temporaryDirectory()
        let trust = dir + "/trust.yaml"
        try KeygenCommand.parse(["--cluster", "c1", "--out", dir, "--trust", trust]).run()
        let old = try KeyFiles.readPublicKey(path: dir + "/c1.pub")
        try KeygenCommand.parse(["--cluster", "c1", "--out", dir, "--trust", trust, "--force"]).run()
        let new = try KeyFiles.readPublicKey(path: dir + "/c1.pub")
        XCTAssertNotEqual(old, new)
        XCTAssertEqual(try roster(trust).keysByCluster["c1"], [old, new], "both trusted until the old one is dropped")
    }

    func testTrustGoesWithAClusterKeyOnly() {
        XCTAssertThrowsError(try KeygenCommand.parse(["--mesh", "--out", "/tmp/x", "--trust", "/tmp/x/trust.yaml"]))
    }

    func testABrokenRosterIsNotOverwritten() throws {
        let dir = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let trust = dir + "/trust.yaml"
        try "clusters: [not, a, mapping]\n".write(toFile: trust, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try KeygenCommand.parse(["--cluster", "c1", "--out", dir, "--trust", trust]).run())
        XCTAssertEqual(try String(contentsOfFile: trust, encoding: .utf8), "clusters: [not, a, mapping]\n")
    }
}
