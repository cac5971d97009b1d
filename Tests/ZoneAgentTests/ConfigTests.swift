import Foundation
import MeshCrypto
import XCTest

@testable import ZoneAgent

final class ConfigTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "config-\(UUID().uuidString)"
        let c1 = try KeyFiles.writeClusterKey(cluster: "c1", directory: dir + "/keys")
        let c2 = try KeyFiles.writeClusterKey(cluster: "c2", directory: dir + "/keys")
        try KeyFiles.writeMeshKey(directory: dir + "/keys")
        try TrustRoster(["c1": [c1.publicKey], "c2": [c2.publicKey]]).yaml
            .write(toFile: dir + "/keys/trust.yaml", atomically: true, encoding: .utf8)
        // The gateway configurations below name it: routes are read and checked with the configuration.
        try Self.ingress(c1: 20, c2: 80).write(toFile: dir + "/ingress.yaml", atomically: true, encoding: .utf8)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// The seed's Ingress with the weights `c1` and `c2`.
    static func ingress(c1: Int, c2: Int, path: String = "/svc1") -> String {
        """
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata:
          name: ingress-demo
          namespace: gateway-demo
          annotations:
            alb.ingress.kubernetes.io/cluster-weight.c1: "\(c1)"
            alb.ingress.kubernetes.io/cluster-weight.c2: "\(c2)"
        spec:
          rules:
            - host: alb.ingress.alibaba.com
              http:
                paths:
                  - path: \(path)
                    pathType: Prefix
                    backend: { service: { name: service1, port: { number: 80 } } }
        """
    }

    let agentYAML = """
    node: c1-a
    cluster: c1
    zone: zone-a
    gossip:
      bind: 127.0.0.1:7001
      join: [127.0.0.1:7001, seeds.example:7001]
      profile: fast
    keys:
      signing: keys/c1.key
      trust: keys/trust.yaml
      mesh: keys/mesh.key
    admin:
      listen: 127.0.0.1:9101
    endpoints:
      static:
        - service: gateway-demo/service1
          address: 127.0.0.1:18081
    probe:
      http: { path: /healthz }
      interval: 1s
      timeout: 500ms
      fall: 2
      rise: 2
    """

    func load(_ yaml: String, role: Role = .agent, env: [String: String] = [:]) throws -> Config {
        let path = dir + "/config.yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return try Config.load(path: path, role: role, environment: env)
    }

    func assertConfigError(_ yaml: String, role: Role = .agent, key: String?, contains text: String,
                           file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try load(yaml, role: role), file: file, line: line) { error in
            guard let e = error as? ConfigError else { return XCTFail("not a ConfigError: \(error)", file: file, line: line) }
            XCTAssertEqual(e.file, self.dir + "/config.yaml", file: file, line: line)
            XCTAssertEqual(e.key, key, "\(e)", file: file, line: line)
            XCTAssertTrue(e.description.contains(text), "\(e) lacks \(text)", file: file, line: line)
        }
    }

    func testTheContractExampleLoads() throws {
        let c = try load(agentYAML)
        XCTAssertEqual(c.node, "c1-a")
        XCTAssertEqual(c.gossip.bind, HostPort(host: "127.0.0.1", port: 7001))
        XCTAssertEqual(c.gossip.join.map(\.description), ["127.0.0.1:7001", "seeds.example:7001"])
        XCTAssertEqual(c.gossip.profile, .fast)
        XCTAssertNotNil(c.keys.signing)
        XCTAssertNotNil(c.keys.mesh)
        XCTAssertEqual(c.endpoints.staticList.first?.address.port, 18081)
        XCTAssertEqual(c.probe.kind, .http(path: "/healthz", expectStatus: 200))
        XCTAssertEqual(c.probe.timeout, .milliseconds(500))
    }

    func testKubernetesEnvironmentDefaults() throws {
        let yaml = agentYAML.replacingOccurrences(of: "node: c1-a\n", with: "")
        let c = try load(yaml, env: ["NODE_NAME": "node-7", "POD_IP": "10.1.2.3"])
        XCTAssertEqual(c.node, "node-7")
        XCTAssertEqual(c.gossip.advertise, HostPort(host: "10.1.2.3", port: 7001))
    }

    func testUnknownKeyIsAnErrorWithAHint() {
        assertConfigError(agentYAML.replacingOccurrences(of: "  fall: 2", with: "  fal: 2"),
                          key: "probe.fal", contains: "did you mean `fall`")
        assertConfigError(agentYAML + "\nextra: 1\n", key: "extra", contains: "is not a known key")
    }

    func testMissingRequiredKeys() {
        assertConfigError(agentYAML.replacingOccurrences(of: "cluster: c1\n", with: ""), key: "cluster", contains: "is required")
        assertConfigError(agentYAML.replacingOccurrences(of: "  signing: keys/c1.key\n", with: ""),
                          key: "keys.signing", contains: "is required")
        assertConfigError(agentYAML.replacingOccurrences(of: "  bind: 127.0.0.1:7001\n", with: ""),
                          key: "gossip.bind", contains: "is required")
    }

    func testUnreadableOrWrongKeyFiles() {
        assertConfigError(agentYAML.replacingOccurrences(of: "keys/c1.key", with: "keys/missing.key"),
                          key: "keys.signing", contains: "cannot be read")
        assertConfigError(agentYAML.replacingOccurrences(of: "keys/c1.key", with: "keys/c2.key"),
                          key: "keys.signing", contains: "is not trusted for cluster c1")
        chmod(dir + "/keys/trust.yaml", 0o600)   // owner-only, so that its content, not its mode, is what fails
        assertConfigError(agentYAML.replacingOccurrences(of: "keys/mesh.key", with: "keys/trust.yaml"),
                          key: "keys.mesh", contains: "not a base64 mesh key")
        assertConfigError(agentYAML.replacingOccurrences(of: "cluster: c1", with: "cluster: c9"),
                          key: "cluster", contains: "not in the trust roster")
    }

    func testBadAddressesAndDurations() {
        assertConfigError(agentYAML.replacingOccurrences(of: "bind: 127.0.0.1:7001", with: "bind: 127.0.0.1"),
                          key: "gossip.bind", contains: "is not a host:port address")
        assertConfigError(agentYAML.replacingOccurrences(of: "address: 127.0.0.1:18081", with: "address: 127.0.0.1:99999"),
                          key: "endpoints.static[0].address", contains: "is not a host:port address")
        assertConfigError(agentYAML.replacingOccurrences(of: "interval: 1s", with: "interval: 1 sec"),
                          key: "probe.interval", contains: "is not a duration")
        assertConfigError(agentYAML.replacingOccurrences(of: "timeout: 500ms", with: "timeout: 2s"),
                          key: "probe.timeout", contains: "must not exceed probe.interval")
        assertConfigError(agentYAML.replacingOccurrences(of: "profile: fast", with: "profile: turbo"),
                          key: "gossip.profile", contains: "use lan, fast or wan")
        assertConfigError(agentYAML.replacingOccurrences(of: "fall: 2", with: "fall: -1"),
                          key: "probe.fall", contains: "is not a whole number")
    }

    func testServiceNamesMustBeKubernetesNames() {
        assertConfigError(agentYAML.replacingOccurrences(of: "service: gateway-demo/service1", with: "service: gateway-demo"),
                          key: "endpoints.static[0].service", contains: "gateway-demo")
        assertConfigError(agentYAML.replacingOccurrences(of: "service: gateway-demo/service1", with: "service: Gateway_Demo/x"),
                          key: "endpoints.static[0].service", contains: "Gateway_Demo")
    }

    func testKeysOfTheOtherRoleAreRefused() {
        assertConfigError(agentYAML + "\nproxy:\n  listen: 127.0.0.1:8001\n", key: "proxy", contains: "belongs to the gateway")
    }

    func testGatewayNeedsRoutes() {
        let gateway = """
        node: gw-1
        gossip: { bind: 127.0.0.1:7100, join: [127.0.0.1:7001] }
        keys: { trust: keys/trust.yaml }
        proxy: { listen: 127.0.0.1:8001 }
        """
        assertConfigError(gateway, role: .gateway, key: "routes", contains: "is required for a gateway")
        XCTAssertNoThrow(try load(gateway + "\nroutes: { ingress: ingress.yaml }\n", role: .gateway))
    }

    func testHAProxyOutputMustNameAServedService() throws {
        let gateway = """
        node: gw-1
        gossip: { bind: 127.0.0.1:7100, join: [127.0.0.1:7001] }
        keys: { trust: keys/trust.yaml }
        routes:
          - { host: a.example, path: /svc1, service: gateway-demo/service1, weights: { c1: 20, c2: 80 } }
          - { host: a.example, path: /svc2, service: gateway-demo/service2, weights: { c1: 50, c2: 50 } }
        outputs: { haproxy: { socket: /run/haproxy.sock, backend: web-demo, service: SERVICE } }
        """
        let second = try load(gateway.replacingOccurrences(of: "SERVICE", with: "gateway-demo/service2"), role: .gateway)
        XCTAssertEqual(second.outputs.haproxy?.service, "gateway-demo/service2")
        XCTAssertEqual(second.routes?.routes.count, 2)
        XCTAssertThrowsError(try load(gateway.replacingOccurrences(of: "SERVICE", with: "gateway-demo/service3"), role: .gateway)) { error in
            XCTAssertEqual((error as? ConfigError)?.key, "outputs.haproxy.service")
            XCTAssertTrue("\(error)".contains("no route serves gateway-demo/service3 (the routes serve gateway-demo/service1, gateway-demo/service2)"), "\(error)")
        }
    }

    /// A minimal gateway configuration with `proxy` as its `proxy:` value.
    func gatewayYAML(proxy: String) -> String {
        """
        node: gw-1
        gossip: { bind: 127.0.0.1:7100, join: [127.0.0.1:7001] }
        keys: { trust: keys/trust.yaml }
        routes: { ingress: ingress.yaml }
        proxy: \(proxy)
        """
    }

    func testProxyRetryKeys() throws {
        let yaml = gatewayYAML(proxy:)

        let defaults = try load(yaml("{ listen: 127.0.0.1:8001 }"), role: .gateway)
        XCTAssertEqual(defaults.proxy.connectTimeout, .seconds(1))
        XCTAssertNil(defaults.proxy.perTryTimeout, "off by default")
        XCTAssertEqual(defaults.proxy.retryNonIdempotent, [])

        let set = try load(yaml("""
        { listen: 127.0.0.1:8001, connectTimeout: 250ms, perTryTimeout: 2s, retryNonIdempotent: [PUT, delete] }
        """), role: .gateway)
        XCTAssertEqual(set.proxy.connectTimeout, .milliseconds(250))
        XCTAssertEqual(set.proxy.perTryTimeout, .seconds(2))
        XCTAssertEqual(set.proxy.retryNonIdempotent, [.put, .delete])

        assertConfigError(yaml("{ listen: 127.0.0.1:8001, connectTimeout: 5ms }"), role: .gateway,
                          key: "proxy.connectTimeout", contains: "too short")
        assertConfigError(yaml("{ listen: 127.0.0.1:8001, perTryTimeout: never }"), role: .gateway,
                          key: "proxy.perTryTimeout", contains: "is not a duration")
        assertConfigError(yaml("{ listen: 127.0.0.1:8001, responseTimeout: 5s, perTryTimeout: 5s }"), role: .gateway,
                          key: "proxy.perTryTimeout", contains: "not shorter than proxy.responseTimeout")
        assertConfigError(yaml("{ listen: 127.0.0.1:8001, retryNonIdempotent: [POST] }"), role: .gateway,
                          key: "proxy.retryNonIdempotent[0]", contains: "only PUT and DELETE")
        assertConfigError(yaml("{ listen: 127.0.0.1:8001, retryNonIdempotent: PUT }"), role: .gateway,
                          key: "proxy.retryNonIdempotent", contains: "must be a list")
    }

    func testProxyLimits() throws {
        let yaml = gatewayYAML(proxy:)

        let defaults = try load(yaml("{ listen: 127.0.0.1:8001 }"), role: .gateway)
        XCTAssertEqual(defaults.proxyListen?.port, 8001)
        XCTAssertEqual(defaults.proxy, Config.ProxyConfig())
        XCTAssertEqual(defaults.proxy.requestHeaderTimeout, .seconds(10))
        XCTAssertNil(defaults.proxy.maxConnections, "the default comes from RLIMIT_NOFILE")

        let set = try load(yaml("""
        { listen: 127.0.0.1:8001, requestHeaderTimeout: 5s, requestBodyTimeout: 20s, responseTimeout: 1m,
          idleTimeout: 30s, maxConnections: 100 }
        """), role: .gateway)
        XCTAssertEqual(set.proxy, Config.ProxyConfig(requestHeaderTimeout: .seconds(5), requestBodyTimeout: .seconds(20),
                                                     responseTimeout: .seconds(60), idleTimeout: .seconds(30), maxConnections: 100))

        for key in ["requestHeaderTimeout", "requestBodyTimeout", "responseTimeout", "idleTimeout"] {
            assertConfigError(yaml("{ listen: 127.0.0.1:8001, \(key): soon }"), role: .gateway,
                              key: "proxy.\(key)", contains: "is not a duration")
            assertConfigError(yaml("{ listen: 127.0.0.1:8001, \(key): 0s }"), role: .gateway,
                              key: "proxy.\(key)", contains: "is not a duration")
            assertConfigError(yaml("{ listen: 127.0.0.1:8001, \(key): 5ms }"), role: .gateway,
                              key: "proxy.\(key)", contains: "too short")
        }
        assertConfigError(yaml("{ listen: 127.0.0.1:8001, maxConnections: 0 }"), role: .gateway,
                          key: "proxy.maxConnections", contains: "is not a whole number")
        assertConfigError(yaml("{ listen: 127.0.0.1:8001, maxConnections: lots }"), role: .gateway,
                          key: "proxy.maxConnections", contains: "is not a whole number")
        assertConfigError(yaml("{ listen: 127.0.0.1:8001, headerTimeout: 5s }"), role: .gateway,
                          key: "proxy.headerTimeout", contains: "is not a known key")

        // More connections than the descriptor limit can carry is refused, naming the limit and the way out.
        let path = dir + "/config.yaml"
        try yaml("{ listen: 127.0.0.1:8001, maxConnections: 298 }").write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(try Config.load(path: path, role: .gateway, environment: [:], descriptorLimit: 1024).proxy.maxConnections, 298)
        try yaml("{ listen: 127.0.0.1:8001, maxConnections: 299 }").write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Config.load(path: path, role: .gateway, environment: [:], descriptorLimit: 1024)) { error in
            let e = error as? ConfigError
            XCTAssertEqual(e?.key, "proxy.maxConnections")
            XCTAssertTrue("\(error)".contains("RLIMIT_NOFILE is 1024, enough for 298"), "\(error)")
        }
    }

    func testDurationText() {
        XCTAssertEqual(DurationText.parse("500ms"), .milliseconds(500))
        XCTAssertEqual(DurationText.parse("2m"), .seconds(120))
        XCTAssertEqual(DurationText.parse("1m30s"), .seconds(90))
        XCTAssertEqual(DurationText.parse("1.5s"), .milliseconds(1500))
        for bad in ["", "5", "1 s", "s", "1y", "-1s", "99999999999999999999ms", "1e400s"] { XCTAssertNil(DurationText.parse(bad), bad) }
        XCTAssertEqual(DurationText.format(.milliseconds(1500)), "1500ms")
        XCTAssertEqual(DurationText.format(.seconds(120)), "2m")
    }
}

final class ProbeLogicTests: XCTestCase {
    func testFallAndRise() {
        var counter = ProbeCounter(fall: 2, rise: 3)
        XCTAssertTrue(counter.record(success: true))
        XCTAssertEqual(counter.state, .healthy)
        XCTAssertFalse(counter.record(success: false), "one failure is not enough")
        XCTAssertTrue(counter.record(success: false))
        XCTAssertEqual(counter.state, .unhealthy)
        XCTAssertFalse(counter.record(success: true))
        XCTAssertFalse(counter.record(success: true))
        XCTAssertFalse(counter.record(success: false), "a failure resets the rise streak")
        for _ in 0..<2 { XCTAssertFalse(counter.record(success: true)) }
        XCTAssertTrue(counter.record(success: true))
        XCTAssertEqual(counter.state, .healthy)
    }

    func testRendezvousIsStableAndMovesOnlyTheDeadMembersEndpoints() {
        let members = (1...5).map { "c1-\($0)" }
        let endpoints = (1...200).map { "gateway-demo/service1|10.0.0.\($0):80" }
        var before: [String: [String]] = [:]
        for e in endpoints { before[e] = ProberAssignment.probers(of: e, among: members, replicas: 2) }
        XCTAssertEqual(ProberAssignment.probers(of: endpoints[0], among: members.reversed(), replicas: 2), before[endpoints[0]],
                       "the order members are listed in does not matter")
        // Load spreads: every member probes some endpoints.
        let load = Dictionary(grouping: before.values.flatMap { $0 }, by: { $0 }).mapValues(\.count)
        XCTAssertEqual(Set(load.keys), Set(members))
        XCTAssertTrue(load.values.allSatisfy { $0 > 40 }, "\(load)")
        // Kill c1-3: endpoints it did not watch keep their probers.
        let survivors = members.filter { $0 != "c1-3" }
        for e in endpoints {
            let after = ProberAssignment.probers(of: e, among: survivors, replicas: 2)
            XCTAssertEqual(after.count, 2)
            for kept in before[e]! where kept != "c1-3" { XCTAssertTrue(after.contains(kept)) }
        }
    }
}

final class LocalHealthTests: XCTestCase {
    let endpoints = (1...6).map { ProbeTarget(service: "gateway-demo/service1", host: "10.0.0.\($0)", port: 80) }
    let start = ContinuousClock.now

    /// An agent joining moves endpoints between probers. The one that lets an endpoint go keeps probing and
    /// reporting it until the new probers have had time to confirm it, so the cluster never has a moment with
    /// nobody saying its endpoints are healthy (it used to fail over for nothing, then wait out the hold-down).
    func testAnEndpointLeavingAShareIsReportedUntilItsHandoverEnds() {
        var a = LocalHealth(member: "c1-a", replicas: 2, fall: 1, rise: 2, handover: .seconds(3))
        _ = a.setEndpoints(endpoints, now: start)
        _ = a.setLiveMembers(["c1-a", "c1-b"], now: start)
        XCTAssertEqual(Set(a.assigned), Set(endpoints), "two agents, two probers: everything")
        for e in endpoints { _ = a.record(e, success: true); _ = a.record(e, success: true) }
        XCTAssertTrue(a.report.allSatisfy { $0.state == .healthy })

        // A third agent joins: a's share shrinks, but what it lets go stays healthy in its report for the handover.
        XCTAssertFalse(a.setLiveMembers(["c1-a", "c1-b", "c1-c"], now: start + .seconds(1)), "nothing dropped yet")
        let share = endpoints.filter { ProberAssignment.isProber("c1-a", of: $0.description, among: ["c1-a", "c1-b", "c1-c"], replicas: 2) }
        XCTAssertLessThan(share.count, endpoints.count)
        XCTAssertTrue(a.report.allSatisfy { $0.state == .healthy }, "still vouched for while handed over")
        XCTAssertFalse(a.endHandovers(now: start + .seconds(3)))

        // Past the handover only its share is probed and reported; the rest are unknown to it.
        XCTAssertTrue(a.endHandovers(now: start + .seconds(4)))
        XCTAssertEqual(Set(a.assigned), Set(share))
        for health in a.report {
            let key = ProbeTarget(service: health.service, host: health.host, port: health.port)
            XCTAssertEqual(health.state, share.contains(key) ? .healthy : .unknown)
        }
    }

    func testWithoutAHandoverAnEndpointLeavingAShareIsForgottenAtOnce() {
        var a = LocalHealth(member: "c1-a", replicas: 2, fall: 1, rise: 1)
        _ = a.setEndpoints(endpoints, now: start)
        _ = a.setLiveMembers(["c1-a", "c1-b"], now: start)
        for e in endpoints { _ = a.record(e, success: true) }
        XCTAssertTrue(a.setLiveMembers(["c1-a", "c1-b", "c1-c"], now: start))
        XCTAssertTrue(a.report.contains { $0.state == .unknown })
    }

    func views(_ members: [String]) -> [String: LocalHealth] {
        var out: [String: LocalHealth] = [:]
        for m in members {
            var h = LocalHealth(member: m, replicas: 2, fall: 1, rise: 1)
            _ = h.setEndpoints(endpoints, now: start)
            _ = h.setLiveMembers(members, now: start)
            out[m] = h
        }
        return out
    }

    func testEveryEndpointHasTwoProbersAndOthersReportUnknown() {
        let all = views(["c1-a", "c1-b", "c1-c"])
        for e in endpoints {
            XCTAssertEqual(all.values.filter { $0.assigned.contains(e) }.count, 2, "\(e)")
        }
        var a = all["c1-a"]!
        for e in a.assigned { XCTAssertTrue(a.record(e, success: true)) }
        let report = Dictionary(uniqueKeysWithValues: a.report.map { (ProbeTarget(service: $0.service, host: $0.host, port: $0.port), $0.state) })
        for e in endpoints { XCTAssertEqual(report[e], a.assigned.contains(e) ? .healthy : .unknown) }
        XCTAssertFalse(a.record(ProbeTarget(service: "x", host: "y", port: 1), success: true), "results for endpoints not ours are ignored")
    }

    func testAKilledAgentsEndpointsMoveToTheSurvivors() {
        var b = views(["c1-a", "c1-b", "c1-c"])["c1-b"]!
        let before = Set(b.assigned)
        _ = b.setLiveMembers(["c1-b", "c1-c"], now: start)
        XCTAssertEqual(Set(b.assigned), Set(endpoints), "with two agents left and two probers each, both probe everything")
        XCTAssertTrue(before.isSubset(of: Set(b.assigned)))
    }
}

final class CommandValidationTests: XCTestCase {
    func testDemoRefusesBadOptionsBeforeStartingAnything() {
        XCTAssertThrowsError(try DemoCommand.parse(["--profile", "turbo"]))
        XCTAssertThrowsError(try DemoCommand.parse(["--hold-down", "soon"]))
        XCTAssertNoThrow(try DemoCommand.parse(["--profile", "fast", "--hold-down", "2s"]))
    }

    func testKeygenNeedsExactlyOneKind() {
        XCTAssertThrowsError(try KeygenCommand.parse(["--out", "/tmp/x"]))
        XCTAssertThrowsError(try KeygenCommand.parse(["--mesh", "--cluster", "c1", "--out", "/tmp/x"]))
        XCTAssertThrowsError(try KeygenCommand.parse(["--cluster", "bad name!", "--out", "/tmp/x"]))
    }
}
