import Foundation
import MeshCrypto
import XCTest

@testable import ZoneAgent

/// Careless timing settings and secret key files readable by others are refused at start-up (exit 78), naming
/// the key and the reason.
extension ConfigTests {
    var gatewayYAML: String {
        """
        node: gw-1
        gossip: { bind: 127.0.0.1:7100, join: [127.0.0.1:7001] }
        keys: { trust: keys/trust.yaml, mesh: keys/mesh.key }
        routes: { ingress: ingress.yaml }
        failover: { holdDown: 10s, slowStart: 10s }
        """
    }

    func testEveryTimingSettingIsBoundedWithItsReason() {
        let agent: [(String, String, String, String)] = [
            // (replace, with, key, message)
            ("interval: 1s", "interval: 1ms", "probe.interval", "`1ms` is below the minimum of 100ms: each round opens a connection"),
            ("interval: 1s", "interval: 99ms", "probe.interval", "below the minimum of 100ms"),
            ("interval: 1s", "interval: 0s", "probe.interval", "below the minimum of 100ms"),
            ("interval: 1s", "interval: 11s", "probe.interval", "`11s` is above the maximum of 10s: failure detection takes interval × fall"),
            ("timeout: 500ms", "timeout: 10ms", "probe.timeout", "`10ms` is below the minimum of 50ms"),
            ("fall: 2", "fall: 11", "probe.fall", "`11` is not a whole number from 1 to 10: detection takes count × probe.interval"),
            ("fall: 2", "fall: 0", "probe.fall", "from 1 to 10"),
            ("rise: 2", "rise: 100", "probe.rise", "from 1 to 10"),
        ]
        for (old, new, key, message) in agent {
            assertConfigError(agentYAML.replacingOccurrences(of: old, with: new), key: key, contains: message)
        }
        let gateway: [(String, String, String, String)] = [
            ("holdDown: 10s", "holdDown: 1ms", "failover.holdDown", "`1ms` is below the minimum of 1s: the hold-down is the flap damper"),
            ("holdDown: 10s", "holdDown: 11m", "failover.holdDown", "above the maximum of 10m"),
            ("slowStart: 10s", "slowStart: 0s", "failover.slowStart", "below the minimum of 1s"),
            ("slowStart: 10s", "slowStart: 1h", "failover.slowStart", "`60m` is above the maximum of 10m"),
            ("slowStart: 10s", "slowStart: 10s, digestLease: 30s", "failover.digestLease",
             "`30s` is below the minimum of 1m: agents re-issue their digests every 30s"),
            ("slowStart: 10s", "slowStart: 10s, digestLease: 1h", "failover.digestLease", "above the maximum of 10m"),
            ("slowStart: 10s", "slowStart: 10s, digestLease: soon", "failover.digestLease", "is not a duration"),
        ]
        for (old, new, key, message) in gateway {
            assertConfigError(gatewayYAML.replacingOccurrences(of: old, with: new), role: .gateway, key: key, contains: message)
        }
    }

    func testBoundsThemselvesAreAccepted() throws {
        let fastest = try load(agentYAML.replacingOccurrences(of: "interval: 1s", with: "interval: 100ms")
            .replacingOccurrences(of: "timeout: 500ms", with: "timeout: 50ms")
            .replacingOccurrences(of: "fall: 2", with: "fall: 1").replacingOccurrences(of: "rise: 2", with: "rise: 10"))
        XCTAssertEqual(fastest.probe.interval, .milliseconds(100))
        XCTAssertEqual(fastest.probe.timeout, .milliseconds(50))
        XCTAssertEqual(fastest.probe.rise, 10)
        let slowest = try load(agentYAML.replacingOccurrences(of: "interval: 1s", with: "interval: 10s")
            .replacingOccurrences(of: "timeout: 500ms", with: "timeout: 10s"))
        XCTAssertEqual(slowest.probe.interval, .seconds(10))

        let defaults = try load(gatewayYAML, role: .gateway)
        XCTAssertEqual(defaults.failover.digestLease, .seconds(90), "three refresh intervals by default")
        let edges = try load(gatewayYAML.replacingOccurrences(of: "holdDown: 10s", with: "holdDown: 1s")
            .replacingOccurrences(of: "slowStart: 10s", with: "slowStart: 10m, digestLease: 1m"), role: .gateway)
        XCTAssertEqual(edges.failover.holdDown, .seconds(1))
        XCTAssertEqual(edges.failover.slowStart, .seconds(600))
        XCTAssertEqual(edges.failover.digestLease, .seconds(60))
        XCTAssertGreaterThan(TimingBounds.digestLease.minimum, TimingBounds.digestRefresh,
                             "a lease must outlast the agents' refresh interval")
    }

    func testTheDemoAndDeployTimingsAreWithinBounds() throws {
        // What we ship must load: the demo's probe line and failover settings, and the deploy manifests' probe.
        let demo = LocalMesh.Layout()
        let probe = demo.probe.replacingOccurrences(of: "probe: ", with: "")
        XCTAssertNoThrow(try load(agentYAML.replacingOccurrences(
            of: "probe:\n  http: { path: /healthz }\n  interval: 1s\n  timeout: 500ms\n  fall: 2\n  rise: 2", with: "probe: \(probe)")))
        XCTAssertNoThrow(try load(gatewayYAML.replacingOccurrences(of: "holdDown: 10s", with: "holdDown: 2s")
            .replacingOccurrences(of: "slowStart: 10s", with: "slowStart: 2s"), role: .gateway))
    }

    func testSecretKeyFilesReadableByOthersAreRefusedWithExit78() throws {
        for (file, key) in [("c1.key", "keys.signing"), ("mesh.key", "keys.mesh")] {
            let path = dir + "/keys/" + file
            for mode in [0o640, 0o644] {
                XCTAssertEqual(chmod(path, mode_t(mode)), 0)
                assertConfigError(agentYAML, key: key,
                                  contains: "\(path): permissions 0\(String(mode, radix: 8)) are too open")
            }
            for mode in [0o600, 0o400] {
                XCTAssertEqual(chmod(path, mode_t(mode)), 0)
                XCTAssertNoThrow(try load(agentYAML), "\(file) \(String(mode, radix: 8))")
            }
        }
        XCTAssertEqual(ExitStatus.configuration, 78, "a ConfigError exits 78 (Daemon.exitWithConfigError)")
    }
}
