import Foundation
import MeshCrypto
import XCTest

/// Secret key files readable (or writable) by group or others are refused by name and mode, as ssh refuses an
/// unprotected private key; keygen's own files pass.
final class KeyFileModeTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "keymode-\(UUID().uuidString)"
        try KeyFiles.writeClusterKey(cluster: "c1", directory: dir)
        try KeyFiles.writeMeshKey(directory: dir)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func mode(_ path: String) throws -> Int {
        try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }

    func testKeygenWritesSecretsOwnerOnlyEvenUnderAPermissiveUmask() throws {
        XCTAssertEqual(try mode(dir + "/c1.key"), 0o600)
        XCTAssertEqual(try mode(dir + "/mesh.key"), 0o600)
        XCTAssertEqual(try mode(dir + "/c1.pub"), 0o644, "the public half is meant to be read")
        let old = umask(0)
        defer { umask(old) }
        try KeyFiles.writeClusterKey(cluster: "c2", directory: dir)
        try KeyFiles.writeMeshKey(directory: dir, force: true)
        XCTAssertEqual(try mode(dir + "/c2.key"), 0o600)
        XCTAssertEqual(try mode(dir + "/mesh.key"), 0o600)
    }

    func testOwnerOnlyModesAreAccepted() throws {
        for m: mode_t in [0o600, 0o400] {
            chmod(dir + "/c1.key", m)
            chmod(dir + "/mesh.key", m)
            XCTAssertNoThrow(try KeyFiles.readSigningKey(path: dir + "/c1.key"), String(m, radix: 8))
            XCTAssertNoThrow(try KeyFiles.readMeshKeys(path: dir + "/mesh.key"), String(m, radix: 8))
        }
    }

    func testGroupOrOtherAccessIsRefusedNamingFileAndMode() throws {
        for (m, text) in [(0o640, "0640"), (0o644, "0644"), (0o604, "0604"), (0o620, "0620"), (0o660, "0660"), (0o777, "0777")] {
            for (path, read) in [(dir + "/c1.key", { try KeyFiles.readSigningKey(path: self.dir + "/c1.key") as Any }),
                                 (dir + "/mesh.key", { try KeyFiles.readMeshKeys(path: self.dir + "/mesh.key") as Any })] {
                XCTAssertEqual(chmod(path, mode_t(m)), 0)
                XCTAssertThrowsError(try read(), "\(path) \(text)") { error in
                    XCTAssertEqual(error as? KeyFileError, .tooOpen(path: path, mode: mode_t(m)))
                    let message = String(describing: error)
                    XCTAssertTrue(message.hasPrefix(path), message)
                    XCTAssertTrue(message.contains("permissions \(text) are too open"), message)
                    XCTAssertTrue(message.contains("chmod 600 \(path)"), message)
                }
            }
        }
    }

    func testTheModeOfASymlinkTargetCounts() throws {
        // Kubernetes mounts Secret keys as symlinks (mode 0777 themselves) into `..data/`: the target's mode counts.
        let link = dir + "/linked.key"
        XCTAssertEqual(symlink(dir + "/c1.key", link), 0)
        XCTAssertNoThrow(try KeyFiles.readSigningKey(path: link))
        chmod(dir + "/c1.key", 0o644)
        XCTAssertThrowsError(try KeyFiles.readSigningKey(path: link)) {
            XCTAssertEqual($0 as? KeyFileError, .tooOpen(path: link, mode: 0o644))
        }
    }

    func testPublicKeysAndNonFilesAreNotSecrets() throws {
        chmod(dir + "/c1.pub", 0o644)
        XCTAssertNoThrow(try KeyFiles.readPublicKey(path: dir + "/c1.pub"))
        XCTAssertThrowsError(try KeyFiles.readSigningKey(path: dir)) {
            XCTAssertEqual($0 as? KeyFileError, .malformed(path: self.dir, reason: "it is not a regular file"))
        }
        XCTAssertThrowsError(try KeyFiles.readMeshKeys(path: dir + "/missing.key")) {
            XCTAssertEqual($0 as? KeyFileError, .unreadable(path: self.dir + "/missing.key"))
        }
    }
}
