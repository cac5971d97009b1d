import AsyncHTTPClient
import GatewayHTTP
import NIOCore
import Synchronization
import WeightTable
import Wire
import XCTest

@testable import ZoneAgent

/// The built-in proxy with real sockets, the gateway's table and its outlier detection: a backend that answers 500
/// while its probes pass is taken out after five errors in a row, and pinned requests go where the header says.
final class OutlierProxyTests: XCTestCase {
    /// A gateway in small: the table built from fixed digests plus the monitor's view, published to the proxy's
    /// selector at every change, as GatewayLoop does.
    final class Gateway: Sendable {
        let selector: TableSelector
        let monitor: Mutex<OutlierMonitor?> = Mutex(nil)
        private let inputs: TableInputs
        private let state = Mutex(TableState())

        init(clusters: [String: [Int]], weights: [String: Int], pinning: Bool = false) {
            let route = RouteSpec(uncheckedHost: "", path: "/", pathType: .prefix, service: "ns/app", weights: weights)
            var members: [MemberView] = []
            var digests: [HealthDigest] = []
            for (cluster, ports) in clusters.sorted(by: { $0.key < $1.key }) {
                members.append(MemberView(name: "\(cluster)-a", cluster: cluster, isLive: true))
                digests.append(HealthDigest(
                    origin: MemberIdentity(name: "\(cluster)-a", cluster: cluster, generation: 1), incarnation: 1, version: 1,
                    issuedAtMillis: 1_000,
                    endpoints: ports.map { EndpointHealth(service: "ns/app", host: "127.0.0.1", port: UInt16($0), state: .healthy) }))
            }
            inputs = TableInputs(routes: [route], members: members, digests: digests, wallClockMillis: 1_000)
            selector = TableSelector(pinning: pinning)
            rebuild()
        }

        func rebuild() {
            let monitor = self.monitor.withLock { $0 }
            let table = state.withLock { state in
                var inputs = self.inputs
                if let monitor { inputs.outliers = monitor.view() }
                let built = TableBuilder.build(inputs, state: state, now: .now)
                state = built.state
                return built.table
            }
            selector.publish(table)
            monitor?.tablePublished(table)
        }

        var table: RoutingTable { selector.table }
    }

    struct Failure: Error { var what: String }

    func waitUntil(_ what: String, seconds: Double = 10, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while !condition() {
            guard ContinuousClock.now < deadline else { throw Failure(what: what) }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    func backend(_ name: String) async throws -> (DemoBackend, BoundServer) {
        let backend = DemoBackend(name: name, port: 0)
        return (backend, try await backend.start())
    }

    func get(_ port: Int, headers: [(String, String)] = []) async throws -> (status: UInt, body: String, cluster: String?) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/app")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 1 << 16)
        return (response.status.code, String(buffer: body), response.headers.first(name: "x-zone-cluster"))
    }

    func testABackendAnswering500IsEjectedAfterFiveAndTrafficGoesToTheOthers() async throws {
        _ = ZoneMetrics.registry
        let (bad, badBound) = try await backend("c1-bad")
        let (_, goodBound) = try await backend("c1-good")
        let (_, otherBound) = try await backend("c2")
        bad.fault()
        let gateway = Gateway(clusters: ["c1": [badBound.port, goodBound.port], "c2": [otherBound.port]], weights: ["c1": 50, "c2": 50])
        let policy = OutlierPolicy(consecutiveErrors: 5, baseEjection: .seconds(30), maxEjectedPercent: 50, clusterErrorRate: nil)
        let monitor = OutlierMonitor(policy: policy, metrics: { nil }, logger: .init(label: "test")) { [gateway] in
            Task { gateway.rebuild() }
        }
        gateway.monitor.withLock { $0 = monitor }
        gateway.rebuild()
        let hooks = monitor.feeding(ProxyHooks())
        let proxy = WeightedProxy(configuration: .init(host: "127.0.0.1", port: 0), selector: gateway.selector, hooks: hooks)
        let bound = try await proxy.start()

        var errors = 0
        // Sequential requests: the faulty backend gets one in four (c1 half, then its two endpoints in turn).
        for _ in 0..<100 where errors < 5 {
            XCTAssertEqual(gateway.table.routes[0].endpoints.count, 3, "not ejected before its fifth error")
            if try await get(bound.port).status == 500 { errors += 1 }
        }
        XCTAssertEqual(errors, 5)
        try await waitUntil("the faulty endpoint leaves the table") { gateway.table.routes[0].endpoints.count == 2 }
        let c1 = try XCTUnwrap(gateway.table.routes[0].clusters.first { $0.cluster == "c1" })
        XCTAssertEqual(c1.state, .degraded)
        XCTAssertTrue(c1.reason.contains("endpoint 127.0.0.1:\(badBound.port) ejected by this gateway after 5 consecutive errors"), c1.reason)
        for _ in 0..<30 {
            let answer = try await get(bound.port)
            XCTAssertEqual(answer.status, 200)
            XCTAssertNotEqual(answer.body, "c1-bad\n")
        }
        await bound.shutdown()
        await badBound.shutdown()
        await goodBound.shutdown()
        await otherBound.shutdown()
    }

    func testPinnedRequestsGoToTheNamedClusterOr503AndTheHeaderIsRemoved() async throws {
        let seen = Mutex<[String]>([])
        // A backend that echoes whether the pin header reached it.
        let echo = HTTPServer(configuration: .init(host: "127.0.0.1", port: 0)) { request in
            let pin = request.headers.first(name: "x-zone-cluster-pin") ?? "none"
            seen.withLock { $0.append(pin) }
            return HTTPServerResponse(status: .ok, text: "c2 saw pin: \(pin)\n")
        }
        let echoBound = try await echo.start()
        let (_, c1Bound) = try await backend("c1")
        // c2 has weight 0: only pinned requests reach it. c3 has no healthy endpoint.
        let gateway = Gateway(clusters: ["c1": [c1Bound.port], "c2": [echoBound.port], "c3": []],
                              weights: ["c1": 100, "c2": 0, "c3": 0], pinning: true)
        let results = Mutex<[String]>([])
        var hooks = ProxyHooks()
        hooks.onPinned = { cluster, result in results.withLock { $0.append("\(cluster):\(result.rawValue)") } }
        let proxy = WeightedProxy(configuration: .init(host: "127.0.0.1", port: 0, pinHeader: "X-Zone-Cluster-Pin"),
                                  selector: gateway.selector, hooks: hooks)
        let bound = try await proxy.start()

        let plain = try await get(bound.port)
        XCTAssertEqual(plain.body, "c1\n")
        let pinned = try await get(bound.port, headers: [("x-zone-cluster-pin", "c2")])
        XCTAssertEqual(pinned.status, 200)
        XCTAssertEqual(pinned.cluster, "c2")
        XCTAssertEqual(pinned.body, "c2 saw pin: none\n", "the pin header is removed before forwarding")
        let cannot = try await get(bound.port, headers: [("X-Zone-Cluster-Pin", "c3")])
        XCTAssertEqual(cannot.status, 503)
        XCTAssertEqual(cannot.body, "the cluster this request is pinned to has no healthy endpoint for its route\n")
        let unknown = try await get(bound.port, headers: [("x-zone-cluster-pin", "c9")])
        XCTAssertEqual(unknown.status, 503)
        XCTAssertEqual(unknown.body, "the cluster this request is pinned to is not a cluster of its route\n")
        XCTAssertEqual(results.withLock { $0 }, ["c2:served", "c3:cannot_serve", "c9:unknown_cluster"])
        XCTAssertEqual(seen.withLock { $0 }, ["none"])
        await bound.shutdown()
        await echoBound.shutdown()
        await c1Bound.shutdown()
    }

    func testPopulationCountsEachServiceOfAClusterOnce() {
        func cluster(_ name: String, total: Int) -> ClusterEntry {
            ClusterEntry(cluster: name, configuredWeight: 50, effectiveWeight: 50, healthyEndpoints: total, totalEndpoints: total,
                         state: .active, reason: "")
        }
        func route(_ path: String, _ service: String, c1: Int, c2: Int) -> RouteEntry {
            RouteEntry(spec: RouteSpec(uncheckedHost: "", path: path, pathType: .prefix, service: service, weights: ["c1": 50, "c2": 50]),
                       clusters: [cluster("c1", total: c1), cluster("c2", total: c2)], endpoints: [], failStatic: false)
        }
        let table = RoutingTable(version: 1, hash: "", generatedAtMillis: 0, isolated: false, routes: [
            route("/a", "ns/a", c1: 3, c2: 2), route("/b", "ns/a", c1: 3, c2: 2), route("/c", "ns/c", c1: 4, c2: 0),
        ], changes: [])
        XCTAssertEqual(OutlierMonitor.population(table), ["c1": 7, "c2": 2])
    }
}
