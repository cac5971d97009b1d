import Foundation
import Logging
import MeshCrypto
import Synchronization
import WeightTable
import Wire
import XCTest

@testable import ZoneAgent

/// A reload validates the whole new configuration before anything changes, refuses a bad one while the running
/// one keeps serving, and sees every way a file changes, a Kubernetes ConfigMap's `..data` swap included.
extension ConfigTests {
    var reloadGatewayYAML: String {
        """
        node: gw-1
        gossip: { bind: 127.0.0.1:7100, join: [127.0.0.1:7001] }
        keys: { trust: keys/trust.yaml, mesh: keys/mesh.key }
        routes: { ingress: ingress.yaml }
        failover: { holdDown: 10s, slowStart: 10s }
        proxy: { listen: 127.0.0.1:8001 }
        """
    }

    /// A reloader over `config.yaml` in the test directory that records what it applied.
    func reloader(_ role: Role, applied: AppliedConfigs) throws -> ConfigReloader {
        let path = dir + "/config.yaml"
        let first = try Config.load(path: path, role: role, environment: [:])
        return ConfigReloader(current: first, logger: .init(label: "test"), load: { () throws(ConfigError) in
            try Config.load(path: path, role: role, environment: [:])
        }, apply: { new, _ in applied.append(new) })
    }

    func testTheConfigurationIsTypedAndNamesEveryFileItWasReadFrom() throws {
        let c = try load(reloadGatewayYAML.replacingOccurrences(of: "slowStart: 10s", with: "slowStart: 10s, mode: zero-healthy"), role: .gateway)
        XCTAssertEqual(c.failover.mode, .zeroHealthy)
        XCTAssertEqual(c.failover.policy.failover, .zeroHealthy)
        XCTAssertEqual(c.gossip.profile, .lan)
        XCTAssertEqual(c.routes?.routes.map(\.weights), [["c1": 20, "c2": 80]], "routes are parsed with the configuration")
        XCTAssertEqual(c.files, [dir + "/config.yaml", dir + "/keys/trust.yaml", dir + "/keys/mesh.key", dir + "/ingress.yaml"])
        let agent = try load(agentYAML)
        XCTAssertEqual(agent.files, [dir + "/config.yaml", dir + "/keys/c1.key", dir + "/keys/trust.yaml", dir + "/keys/mesh.key"])
    }

    func testIngressWeightsThatDoNotSumTo100AreRefusedAtLoadNamingTheIngressAndTheAnnotation() throws {
        try Self.ingress(c1: 30, c2: 80).write(toFile: dir + "/ingress.yaml", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try load(reloadGatewayYAML, role: .gateway)) { error in
            let e = error as? ConfigError
            XCTAssertEqual(e?.file, self.dir + "/ingress.yaml")
            XCTAssertEqual(e?.key, "metadata.annotations[\"alb.ingress.kubernetes.io/cluster-weight.c2\"]")
            XCTAssertTrue(e?.problem.contains("100") ?? false, "\(error)")
        }
    }

    func testKubernetesRoutesAreParsed() throws {
        let yaml = reloadGatewayYAML.replacingOccurrences(of: "routes: { ingress: ingress.yaml }",
                                                          with: "routes: { kubernetes: { ingressClass: alb, namespaces: [gateway-demo] } }")
        let c = try load(yaml, role: .gateway)
        XCTAssertEqual(c.routes?.kubernetes, Config.KubernetesRoutes(ingressClass: "alb", namespaces: ["gateway-demo"]))
        XCTAssertEqual(c.routes?.routes, [])
        assertConfigError(yaml.replacingOccurrences(of: "[gateway-demo]", with: "[Bad_Name]"), role: .gateway,
                          key: "routes.kubernetes.namespaces[0]", contains: "Bad_Name")
        assertConfigError(yaml.replacingOccurrences(of: "ingressClass: alb, ", with: ""), role: .gateway,
                          key: "routes.kubernetes.ingressClass", contains: "is required")
    }

    func testABadReloadIsRefusedTheRunningConfigurationKeepsServingAndTheNextGoodEditApplies() async throws {
        try reloadGatewayYAML.write(toFile: dir + "/config.yaml", atomically: true, encoding: .utf8)
        _ = ZoneMetrics.registry
        let applied = AppliedConfigs()
        let reloader = try reloader(.gateway, applied: applied)

        // Weights that do not sum to 100: refused, nothing applied, the running routes stay.
        try Self.ingress(c1: 30, c2: 80).write(toFile: dir + "/ingress.yaml", atomically: true, encoding: .utf8)
        guard case .refused(let error) = await reloader.reload(cause: "test") else { return XCTFail("a bad Ingress was applied") }
        XCTAssertEqual(error.file, dir + "/ingress.yaml")
        XCTAssertEqual(applied.count, 0)
        let running = await reloader.current.routes?.routes.first?.weights
        XCTAssertEqual(running, ["c1": 20, "c2": 80])
        let metrics = String(decoding: ZoneMetrics.registry.emitToBuffer(), as: UTF8.self)
        XCTAssertTrue(metrics.contains("zone_agent_config_refused{") && metrics.contains("ingress.yaml"), "the refusal has a metric")

        // A key of the wrong size, and YAML that does not parse: refused too, naming the file and key.
        try Self.ingress(c1: 50, c2: 50).write(toFile: dir + "/ingress.yaml", atomically: true, encoding: .utf8)
        try "c2hvcnQ=\n".write(toFile: dir + "/keys/mesh.key", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: dir + "/keys/mesh.key")
        guard case .refused(let keyError) = await reloader.reload(cause: "test") else { return XCTFail("a short mesh key was applied") }
        XCTAssertEqual(keyError.key, "keys.mesh")
        try KeyFiles.writeMeshKey(directory: dir + "/keys", force: true)
        try "gossip: [unclosed".write(toFile: dir + "/config.yaml", atomically: true, encoding: .utf8)
        guard case .refused(let yamlError) = await reloader.reload(cause: "test") else { return XCTFail("broken YAML was applied") }
        XCTAssertTrue(yamlError.problem.contains("not valid YAML"), "\(yamlError)")
        XCTAssertEqual(applied.count, 0)

        // The next good edit applies; a changed listen address is named as needing a restart, the rest applies.
        try reloadGatewayYAML.replacingOccurrences(of: "127.0.0.1:8001", with: "127.0.0.1:8002")
            .write(toFile: dir + "/config.yaml", atomically: true, encoding: .utf8)
        guard case .applied(let restart) = await reloader.reload(cause: "test") else { return XCTFail("a good edit was refused") }
        XCTAssertEqual(restart, ["proxy"])
        XCTAssertEqual(applied.last?.routes?.routes.first?.weights, ["c1": 50, "c2": 50])
        let now = await reloader.current.routes?.routes.first?.weights
        XCTAssertEqual(now, ["c1": 50, "c2": 50])
    }

    func testNeedsRestartNamesOnlyWhatARunningProcessCannotTake() throws {
        let old = try load(agentYAML)
        var new = old
        new.probe.interval = .seconds(2)
        new.keys.roster = TrustRoster([:])
        XCTAssertEqual(ConfigReloader.needsRestart(from: old, to: new), [], "probe settings and keys apply live")
        new.gossip.bind = HostPort(host: "127.0.0.1", port: 7002)
        new.node = "c1-z"
        new.endpoints.kubernetesServices = ["a/b"]
        XCTAssertEqual(ConfigReloader.needsRestart(from: old, to: new), ["node", "gossip", "endpoints.kubernetes"])
    }

    /// Kubernetes updates a mounted ConfigMap by writing a new timestamped directory and swapping the `..data`
    /// symlink to it: the file the configuration names never changes its inode or its directory entry.
    func testTheFileWatchSeesAKubernetesDataSymlinkSwap() async throws {
        let mount = dir + "/mount"
        let fm = FileManager.default
        try fm.createDirectory(atPath: mount + "/..2026_01", withIntermediateDirectories: true)
        try "clusters: { c1: [a] }\n".write(toFile: mount + "/..2026_01/trust.yaml", atomically: true, encoding: .utf8)
        try fm.createSymbolicLink(atPath: mount + "/..data", withDestinationPath: "..2026_01")
        try fm.createSymbolicLink(atPath: mount + "/trust.yaml", withDestinationPath: "..data/trust.yaml")
        let changes = ChangedPaths()
        let watched = mount + "/trust.yaml"
        let watch = Task { try await FileWatch(interval: .milliseconds(20)).run(paths: { [watched] }) { changes.append($0) } }
        defer { watch.cancel() }
        try await Task.sleep(for: .milliseconds(60))   // let the watch take its first snapshot (the swap must be a change)

        // The swap, as the kubelet does it: a new directory, a new symlink, renamed over `..data`.
        try fm.createDirectory(atPath: mount + "/..2026_02", withIntermediateDirectories: true)
        try "clusters: { c1: [b] }\n".write(toFile: mount + "/..2026_02/trust.yaml", atomically: true, encoding: .utf8)
        try fm.createSymbolicLink(atPath: mount + "/..data_tmp", withDestinationPath: "..2026_02")
        XCTAssertEqual(rename(mount + "/..data_tmp", mount + "/..data"), 0)
        try fm.removeItem(atPath: mount + "/..2026_01")

        let deadline = ContinuousClock.now + .seconds(5)
        while changes.all.isEmpty, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        XCTAssertEqual(changes.all, [[watched]])
    }

    /// The gossip core keeps the verifier it was built with; the roster it checks against is the one in force.
    func testTheVerifierChecksAgainstTheRosterInForceAndTheSignerSwitchesKeys() {
        let old = SigningKeyPair.generate(), new = SigningKeyPair.generate()
        let keys = LiveKeys(roster: TrustRoster(["c1": [old.publicKey]]), signing: old)
        let verifier = keys.verifier
        let digest = HealthDigest(origin: MemberIdentity(name: "c1-a", cluster: "c1", generation: 1), incarnation: 1, version: 1,
                                  issuedAtMillis: 1_000, endpoints: [])
        let byNew = SignedDigest(digest: digest, keyID: new.keyID, signature: new.sign(WireEncoding.signedBytes(of: digest)))
        XCTAssertEqual(verifier.verify(byNew, stored: nil, nowMillis: 1_000), .untrustedKey(cluster: "c1", keyID: new.keyID))
        keys.replace(roster: TrustRoster(["c1": [old.publicKey, new.publicKey]]))
        XCTAssertNil(verifier.verify(byNew, stored: nil, nowMillis: 1_000), "the new key is trusted from the next record on")
        XCTAssertEqual(keys.signer?.keyID, old.keyID)
        keys.signer?.replace(new)
        XCTAssertEqual(keys.signer?.keyID, new.keyID)
        keys.replace(roster: TrustRoster(["c1": [new.publicKey]]))
        let byOld = SignedDigest(digest: digest, keyID: old.keyID, signature: old.sign(WireEncoding.signedBytes(of: digest)))
        XCTAssertEqual(verifier.verify(byOld, stored: nil, nowMillis: 1_000), .untrustedKey(cluster: "c1", keyID: old.keyID))
    }

    func testDigestsSignedWithAKeyTheRosterDroppedStopVouchingAndTheTableSaysWhy() throws {
        let old = SigningKeyPair.generate(), new = SigningKeyPair.generate()
        let origin = MemberIdentity(name: "c1-a", cluster: "c1", zone: "", generation: 1)
        let digest = HealthDigest(origin: origin, incarnation: 1, version: 1, issuedAtMillis: 1_000,
                                  endpoints: [EndpointHealth(service: "gateway-demo/service1", host: "10.0.0.1", port: 80, state: .healthy)])
        let signed = SignedDigest(digest: digest, keyID: old.keyID, signature: old.sign(WireEncoding.signedBytes(of: digest)))

        let both = GatewayLoop.trustedDigests([signed], roster: TrustRoster(["c1": [old.publicKey, new.publicKey]]))
        XCTAssertEqual(both.trusted, [digest])
        XCTAssertEqual(both.distrusted, [:])
        let dropped = GatewayLoop.trustedDigests([signed], roster: TrustRoster(["c1": [new.publicKey]]))
        XCTAssertEqual(dropped.trusted, [])
        XCTAssertEqual(dropped.rejected.count, 1, "counted once as rejected")
        XCTAssertEqual(dropped.distrusted["c1"], "the trust roster no longer trusts the key that signs the digests of c1-a (key \(old.keyID))")

        let route = RouteSpec(uncheckedHost: "", path: "/", pathType: .prefix, service: "gateway-demo/service1", weights: ["c1": 100])
        var inputs = TableInputs(routes: [route], members: [MemberView(origin, standing: .alive)], digests: dropped.trusted, wallClockMillis: 1_000)
        inputs.distrusted = dropped.distrusted
        let table = TableBuilder.build(inputs, state: TableState(), now: .now).table
        let reason = table.routes.first?.clusters.first?.reason ?? ""
        XCTAssertTrue(reason.contains("no longer trusts the key that signs the digests of c1-a"), reason)
    }
}

/// What a test reloader applied, in order.
final class AppliedConfigs: Sendable {
    private let configs = Mutex<[Config]>([])
    func append(_ config: Config) { configs.withLock { $0.append(config) } }
    var count: Int { configs.withLock { $0.count } }
    var last: Config? { configs.withLock { $0.last } }
}

/// The changes a file watch reported, in order.
final class ChangedPaths: Sendable {
    private let changes = Mutex<[[String]]>([])
    func append(_ paths: [String]) { changes.withLock { $0.append(paths) } }
    var all: [[String]] { changes.withLock { $0 } }
}
