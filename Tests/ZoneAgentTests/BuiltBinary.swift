import Foundation
import XCTest

@testable import ZoneAgent

/// The real `zone-agent` binary the process tests run: the one SwiftPM built next to the test bundle.
enum BuiltBinary {
    /// Its path; the test is skipped (not failed) when it is not built, as with `swift test --filter` on a
    /// partial build.
    static func path() throws -> String {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("zone-agent").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw XCTSkip("zone-agent is not built next to the tests (\(binary)); run `swift build` first")
        }
        return binary
    }

    /// A local mesh in a fresh temporary folder named after `prefix`, configured, with every cluster and the gateway
    /// started, and steady at the configured weights.
    static func steadyMesh(_ prefix: String, layout: LocalMesh.Layout) async throws -> LocalMesh {
        let mesh = try LocalMesh(directory: NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString.prefix(8))", binary: try path(), layout: layout)
        try mesh.writeConfiguration()
        for cluster in mesh.clusters { try mesh.startCluster(cluster) }
        try mesh.startGateway()
        try await mesh.waitFor("both clusters active at their weights with every endpoint healthy", timeout: .seconds(30)) { await mesh.isSteady() }
        return mesh
    }
}
