import GatewayHTTP
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import XCTest

final class ProxyTests: XCTestCase {
    func testUnknownHostIs404AndRouteWithoutUpstreamIs503() async throws {
        let recorder = HookRecorder()
        let proxy = try await startProxy(CycleSelector(cycle: []), hooks: recorder.hooks)
        let client = try await TestHTTPClient.connect(port: proxy.port)
        let missing = try await client.request(.GET, "/", host: "nowhere.test")
        XCTAssertEqual(missing.status, .notFound)
        XCTAssertNil(missing.headers.first(name: "x-zone-cluster"))
        let empty = try await client.request(.GET, "/", host: "empty.test:8080")
        XCTAssertEqual(empty.status, .serviceUnavailable)
        // Both answers kept the connection usable.
        let again = try await client.request(.POST, "/", host: "nowhere.test", body: ByteBuffer(string: "body"))
        XCTAssertEqual(again.status, .notFound)
        XCTAssertEqual(recorder.responses, ["- 404": 2, "- 503": 1])
        await client.close()
        await proxy.shutdown()
    }

    func testWeightsAreHonoredExactlyAndNamedInTheHeader() async throws {
        let b1 = try await DemoBackend(name: "c1", port: 0).start()
        let b2 = try await DemoBackend(name: "c2", port: 0).start()
        let c1 = upstream("c1", b1.port), c2 = upstream("c2", b2.port)
        let proxy = try await startProxy(CycleSelector(cycle: [c1, c2, c2, c2, c2]))
        let counts = Locked([String: Int]())
        // Five client connections in parallel, 100 requests each: the cycle makes the totals exact anyway.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<5 {
                group.addTask {
                    let client = try await TestHTTPClient.connect(port: proxy.port)
                    for _ in 0..<100 {
                        let response = try await client.request(.GET, "/svc1")
                        XCTAssertEqual(response.status, .ok)
                        let cluster = response.headers.first(name: "x-zone-cluster") ?? "none"
                        XCTAssertEqual(response.text, cluster + "\n")
                        counts.withLock { $0[cluster, default: 0] += 1 }
                    }
                    await client.close()
                }
            }
            try await group.waitForAll()
        }
        XCTAssertEqual(counts.withLock { $0 }, ["c1": 100, "c2": 400])
        await proxy.shutdown()
        await b1.shutdown()
        await b2.shutdown()
    }

    func testUpstreamConnectionsAreKeptAliveAndReused() async throws {
        let backend = try await DemoBackend(name: "c1", port: 0).start()
        let proxy = try await startProxy(CycleSelector(cycle: [upstream("c1", backend.port)]))
        let client = try await TestHTTPClient.connect(port: proxy.port)
        for _ in 0..<200 {
            let response = try await client.request(.GET, "/")
            XCTAssertEqual(response.status, .ok)
        }
        // One client connection lives on one event loop, whose pool holds one upstream connection.
        XCTAssertEqual(backend.acceptedConnections, 1)
        await client.close()
        await proxy.shutdown()
        await backend.shutdown()
    }

    func testRefusedUpstreamIsRetriedOnTheOtherCluster() async throws {
        let dead = upstream("c1", try await refusedPort())
        let live = try await DemoBackend(name: "c2", port: 0).start()
        let alive = upstream("c2", live.port)
        let recorder = HookRecorder()
        let selector = CycleSelector(cycle: [dead]) { failed in failed == dead ? alive : nil }
        let proxy = try await startProxy(selector, hooks: recorder.hooks)
        let client = try await TestHTTPClient.connect(port: proxy.port)
        for _ in 0..<20 {
            let response = try await client.request(.POST, "/", body: ByteBuffer(string: "payload"))
            XCTAssertEqual(response.status, .ok)
            XCTAssertEqual(response.headers.first(name: "x-zone-cluster"), "c2")
        }
        XCTAssertEqual(recorder.retries.count, 20)
        XCTAssertEqual(Set(recorder.failures), [.connectFailed])
        await client.close()
        await proxy.shutdown()
        await live.shutdown()
    }

    func testFailedRetryIs502() async throws {
        let dead = upstream("c1", try await refusedPort())
        let alsoDead = upstream("c2", try await refusedPort())
        let proxy = try await startProxy(CycleSelector(cycle: [dead]) { _ in alsoDead })
        let client = try await TestHTTPClient.connect(port: proxy.port)
        let response = try await client.request(.GET, "/")
        XCTAssertEqual(response.status, .badGateway)
        await client.close()
        await proxy.shutdown()
    }

    func testKillingABackendMidStreamFailsNoClientRequest() async throws {
        let b1 = try await DemoBackend(name: "c1", port: 0).start()
        let b2 = try await DemoBackend(name: "c2", port: 0).start()
        let c1 = upstream("c1", b1.port), c2 = upstream("c2", b2.port)
        let recorder = HookRecorder()
        let selector = CycleSelector(cycle: [c1, c2]) { failed in failed == c1 ? c2 : c1 }
        let proxy = try await startProxy(selector, hooks: recorder.hooks)
        let served = Locked(0)
        let statuses = Locked([UInt: Int]())
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    let client = try await TestHTTPClient.connect(port: proxy.port)
                    for _ in 0..<250 {
                        let response = try await client.request(.GET, "/")
                        statuses.withLock { $0[response.status.code, default: 0] += 1 }
                        served.withLock { $0 += 1 }
                    }
                    await client.close()
                }
            }
            group.addTask {
                // Kill c1 once the stream is well under way: its pooled connections go stale, new ones are refused.
                try await waitUntil { served.withLock { $0 } >= 300 }
                await b1.shutdown(gracePeriod: .zero)
            }
            try await group.waitForAll()
        }
        XCTAssertEqual(statuses.withLock { $0 }, [200: 1000])
        XCTAssertFalse(recorder.retries.isEmpty, "the kill should have forced at least one retry")
        await proxy.shutdown()
        await b2.shutdown()
    }

    func testLargeRequestBodyStreamsThroughIntact() async throws {
        let backend = try await startTestBackend(name: "c1")
        let proxy = try await startProxy(CycleSelector(cycle: [upstream("c1", backend.port)]))
        let client = try await TestHTTPClient.connect(port: proxy.port)
        var generator = SystemRandomNumberGenerator()
        var payload = ByteBuffer()
        for _ in 0..<(5 << 20) / 8 { payload.writeInteger(generator.next() as UInt64) }
        let response = try await client.request(.POST, "/echo", body: payload, chunkSize: 64 << 10, timeout: .seconds(30))
        XCTAssertEqual(response.status, .ok)
        XCTAssertEqual(response.body.readableBytes, 5 << 20)
        XCTAssertTrue(response.body == payload, "the echoed body differs from the one sent")

        let chunked = try await client.request(
            .POST, "/echo", headers: [("transfer-encoding", "chunked")],
            body: ByteBuffer(string: String(repeating: "x", count: 100_000)), chunkSize: 7000
        )
        XCTAssertEqual(chunked.body.readableBytes, 100_000)
        await client.close()
        await proxy.shutdown()
        await backend.shutdown()
    }

    func testSlowUpstreamGets504AfterTheResponseTimeout() async throws {
        let slow = Gate()
        let backend = try await startTestBackend(name: "c1", slow: slow)
        let recorder = HookRecorder()
        let proxy = try await startProxy(
            CycleSelector(cycle: [upstream("c1", backend.port)]), hooks: recorder.hooks, responseTimeout: .milliseconds(200)
        )
        let client = try await TestHTTPClient.connect(port: proxy.port)
        // The upstream holds its answer until the 504 is in: only the response timeout can have ended the wait.
        let response = try await client.request(.GET, "/slow")
        XCTAssertEqual(response.status, .gatewayTimeout)
        XCTAssertEqual(slow.held, 1, "the upstream had the request and had not answered")
        XCTAssertEqual(recorder.failures, [.responseTimeout])
        slow.open()
        // The client connection is still good for the next request.
        let next = try await client.request(.GET, "/")
        XCTAssertEqual(next.status, .ok)
        await client.close()
        await proxy.shutdown()
        await backend.shutdown(gracePeriod: .zero)
    }

    func testHopByHopHeadersAreRemovedBothWaysAndForwardingAdded() async throws {
        let backend = try await startTestBackend(name: "c1")
        let proxy = try await startProxy(CycleSelector(cycle: [upstream("c1", backend.port)]))
        let client = try await TestHTTPClient.connect(port: proxy.port)
        let echoed = try await client.request(.GET, "/headers", headers: [
            ("connection", "keep-alive, x-drop-me"), ("x-drop-me", "1"), ("keep-alive", "300"),
            ("proxy-authorization", "secret"), ("te", "trailers"), ("upgrade", "foo/1"),
            ("x-forwarded-for", "10.0.0.1"), ("x-kept", "yes"),
        ])
        let seen = Dictionary(
            echoed.text.split(separator: "\n").map { line -> (String, String) in
                let parts = line.split(separator: ":", maxSplits: 1)
                return (String(parts[0]), parts.count > 1 ? String(parts[1].dropFirst()) : "")
            },
            uniquingKeysWith: { a, _ in a }
        )
        for name in ["connection", "x-drop-me", "keep-alive", "proxy-authorization", "te", "upgrade"] {
            XCTAssertNil(seen[name], "\(name) reached the upstream")
        }
        XCTAssertEqual(seen["host"], "app.test")
        XCTAssertEqual(seen["x-kept"], "yes")
        XCTAssertEqual(seen["x-forwarded-for"], "10.0.0.1, 127.0.0.1")
        XCTAssertEqual(seen["forwarded"], "for=127.0.0.1;proto=http")

        let hop = try await client.request(.GET, "/hop")
        XCTAssertEqual(hop.status, .ok)
        for name in ["keep-alive", "x-secret", "proxy-thing"] {
            XCTAssertNil(hop.headers.first(name: name), "\(name) reached the client")
        }
        XCTAssertEqual(hop.headers.first(name: "x-kept"), "1")
        XCTAssertEqual(hop.headers.first(name: "x-zone-cluster"), "c1")
        await client.close()
        await proxy.shutdown()
        await backend.shutdown()
    }

    func testHTTP10ClientIsAnsweredAndClosed() async throws {
        let backend = try await DemoBackend(name: "c1", port: 0).start()
        let proxy = try await startProxy(CycleSelector(cycle: [upstream("c1", backend.port)]))
        let client = try await TestHTTPClient.connect(port: proxy.port)
        let response = try await client.request(.GET, "/", version: .http1_0)
        XCTAssertEqual(response.status, .ok)
        XCTAssertEqual(response.text, "c1\n")
        try await client.channel.closeFuture.get()
        await proxy.shutdown()
        await backend.shutdown()
    }

    func testIdleClientConnectionIsClosedButABusyOneIsNot() async throws {
        let slow = Gate()
        let backend = try await startTestBackend(name: "c1", slow: slow)
        let recorder = HookRecorder()
        let proxy = try await startProxy(
            CycleSelector(cycle: [upstream("c1", backend.port)]), hooks: recorder.hooks, clientIdleTimeout: .milliseconds(100)
        )
        let client = try await TestHTTPClient.connect(port: proxy.port)
        async let answer = client.request(.GET, "/slow")
        try await waitUntil { slow.held == 1 }
        // Waiting on an upstream is not idleness: the connection outlives several idle timeouts (the
        // proxy's timer fires every 100 ms here, so each passing check would have closed an idle one).
        // This wait is the property under test (five idle timeouts pass), not a hope that something happened.
        try await Task.sleep(for: .milliseconds(500))
        XCTAssertTrue(client.channel.isActive)
        slow.open()
        let answered = try await answer
        XCTAssertEqual(answered.text, "slow\n")
        // Idle now: the proxy closes it (bounded well below the 75 s default, so it was this timeout).
        try await waitUntil(timeout: .seconds(10)) { !client.channel.isActive }
        await proxy.shutdown()
        await backend.shutdown()
    }

    func testShutdownLetsInFlightProxiedRequestFinish() async throws {
        let slow = Gate()
        let backend = try await startTestBackend(name: "c1", slow: slow)
        let proxy = try await startProxy(CycleSelector(cycle: [upstream("c1", backend.port)]))
        let client = try await TestHTTPClient.connect(port: proxy.port)
        async let response = client.request(.GET, "/slow")
        try await waitUntil { slow.held == 1 }
        // The upstream answers only once shutdown is under way: the proxy no longer accepts connections.
        let port = proxy.port
        async let shutdown: Void = proxy.shutdown(gracePeriod: .seconds(5))
        try await waitUntil(timeout: .seconds(10)) { !acceptsConnections(port: port) }
        slow.open()
        await shutdown
        let answered = try await response
        XCTAssertEqual(answered.status, .ok)
        XCTAssertEqual(answered.text, "slow\n")
        await client.close()
        await backend.shutdown()
    }
}
