import Foundation
import XCTest

@testable import ZoneAgent

/// The `admin:` section: the bearer token file (secret like a private key) and `metricsPublic`.
extension ConfigTests {
    private func writeToken(_ text: String, mode: Int) throws -> String {
        let path = dir + "/admin.token"
        try? FileManager.default.removeItem(atPath: path)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        return path
    }

    private func withAdmin(_ admin: String) -> String {
        agentYAML.replacingOccurrences(of: "admin:\n  listen: 127.0.0.1:9101", with: "admin:\n  listen: 127.0.0.1:9101\n\(admin)")
    }

    func testAdminTokenIsReadFromASecretFileWithItsNewlineTrimmed() throws {
        _ = try writeToken("0123456789abcdef0123\n", mode: 0o600)
        let c = try load(withAdmin("  token: admin.token"))
        XCTAssertEqual(c.admin.token, "0123456789abcdef0123")
        XCTAssertFalse(c.admin.metricsPublic, "metrics need the token unless made public")
        XCTAssertTrue(try load(withAdmin("  token: admin.token\n  metricsPublic: true")).admin.metricsPublic)
        XCTAssertNil(try load(agentYAML).admin.token)
    }

    func testAdminTokenFileOpenToOthersOrWeakIsRefused() throws {
        let path = try writeToken("0123456789abcdef0123\n", mode: 0o644)
        assertConfigError(withAdmin("  token: admin.token"), key: "admin.token", contains: "\(path) has mode 0644")
        _ = try writeToken("0123456789abcdef0123\n", mode: 0o640)
        assertConfigError(withAdmin("  token: admin.token"), key: "admin.token", contains: "chmod 600")
        _ = try writeToken("short\n", mode: 0o600)
        assertConfigError(withAdmin("  token: admin.token"), key: "admin.token", contains: "fewer than 16")
        _ = try writeToken("\n", mode: 0o400)
        assertConfigError(withAdmin("  token: admin.token"), key: "admin.token", contains: "is empty")
        _ = try writeToken("0123456789 abcdef0123\n", mode: 0o600)
        assertConfigError(withAdmin("  token: admin.token"), key: "admin.token", contains: "visible ASCII only")
        assertConfigError(withAdmin("  token: missing.token"), key: "admin.token", contains: "cannot be read")
        assertConfigError(withAdmin("  metricsPublic: maybe"), key: "admin.metricsPublic", contains: "must be true or false")
    }

    func testTableCommandTakesTheTokenFromAFileOrTheEnvironment() throws {
        let path = try writeToken("fedcba9876543210fedc\r\n", mode: 0o600)
        var command = try TableCommand.parse(["--token-file", path])
        XCTAssertEqual(try command.token(environment: ["ZONE_AGENT_ADMIN_TOKEN": "ignored-when-a-file-is-given"]), "fedcba9876543210fedc")
        command = try TableCommand.parse([])
        XCTAssertEqual(try command.token(environment: ["ZONE_AGENT_ADMIN_TOKEN": "0123456789abcdef0123"]), "0123456789abcdef0123")
        XCTAssertNil(try command.token(environment: [:]))
        _ = try writeToken("fedcba9876543210fedc\n", mode: 0o604)
        XCTAssertThrowsError(try TableCommand.parse(["--token-file", path]).token(environment: [:]))
    }
}
