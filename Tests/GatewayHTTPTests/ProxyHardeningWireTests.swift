import GatewayHTTP
import NIOCore
import NIOHTTP1
import NIOPosix
import XCTest

/// Issue 9, findings 1 and 5, reproduced on the wire: each test sends what the attack sent and checks
/// what the backend and the other clients see.
final class ProxyHardeningWireTests: XCTestCase {
    // MARK: Helpers

    /// A backend that records every request it parses and answers `answer for URI`.
    private func startRecordingBackend() async throws -> (BoundServer, Locked<[HTTPServerRequest]>) {
        let seen = Locked([HTTPServerRequest]())
        let server = HTTPServer(configuration: .init(host: "127.0.0.1", port: 0, maxRequestBodySize: 1 << 20)) { request in
            seen.withLock { $0.append(request) }
            if request.path == "/echo" { return HTTPServerResponse(status: .ok, body: request.body) }
            return HTTPServerResponse(status: .ok, text: "answer for \(request.uri)")
        }
        return (try await server.start(), seen)
    }

    private func startProxy(
        _ selector: any UpstreamSelector,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        hooks: ProxyHooks = ProxyHooks(),
        _ adjust: (inout WeightedProxy.Configuration) -> Void = { _ in }
    ) async throws -> BoundServer {
        var configuration = WeightedProxy.Configuration(host: "127.0.0.1", port: 0)
        adjust(&configuration)
        return try await WeightedProxy(configuration: configuration, selector: selector, hooks: hooks, group: group).start()
    }

    private func describe(_ r: HTTPServerRequest) -> String {
        "\(r.method) \(r.uri) cl=\(r.headers.first(name: "content-length") ?? "-") body=\(r.body.readableBytes)"
    }

    // MARK: Finding 1: request smuggling

    func testConnectionNamingContentLengthCannotSmuggleASecondRequest() async throws {
        let (backend, seen) = try await startRecordingBackend()
        // One event loop, so both clients share the proxy's one pooled upstream connection.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let proxy = try await startProxy(CycleSelector(cycle: [upstream("c1", backend.port)]), group: group)

        let smuggled = "GET /smuggled HTTP/1.1\r\nHost: app.test\r\n\r\n"
        let attacker = try await RawClient.connect(port: proxy.port)
        try await attacker.send("POST /first HTTP/1.1\r\nHost: app.test\r\nContent-Length: \(smuggled.utf8.count)\r\n"
            + "Connection: content-length\r\n\r\n" + smuggled)
        let first = try await attacker.waitFor("answer for /first")
        XCTAssertFalse(first.contains("/smuggled"), first)

        let victim = try await TestHTTPClient.connect(port: proxy.port)
        for _ in 0..<3 {
            let response = try await victim.request(.GET, "/second")
            XCTAssertEqual(response.text, "answer for /second", "the second client got another request's answer")
        }
        XCTAssertEqual(seen.withLock { $0.map(describe) }, [
            "POST /first cl=\(smuggled.utf8.count) body=\(smuggled.utf8.count)",
            "GET /second cl=- body=0", "GET /second cl=- body=0", "GET /second cl=- body=0",
        ], "the backend must see exactly the requests the proxy read, framed as it read them")
        // One upstream connection carried all of it: the framing stayed in step.
        XCTAssertEqual(backend.acceptedConnections, 1)
        await attacker.close()
        await victim.close()
        await proxy.shutdown()
        await backend.shutdown()
        try await group.shutdownGracefully()
    }

    func testConnectionCannotStripHostOrTheForwardingHeaders() async throws {
        let (backend, seen) = try await startRecordingBackend()
        let proxy = try await startProxy(CycleSelector(cycle: [upstream("c1", backend.port)]))
        let client = try await RawClient.connect(port: proxy.port)
        try await client.send("GET /h HTTP/1.1\r\nHost: app.test\r\nX-Forwarded-For: 10.9.9.9\r\nForwarded: for=10.9.9.9\r\n"
            + "Connection: host, x-forwarded-for, forwarded, X-Private\r\nX-Private: 1\r\n\r\n")
        _ = try await client.waitFor("answer for /h")
        let request = try XCTUnwrap(seen.withLock { $0.first })
        XCTAssertEqual(request.headers[canonicalForm: "host"], ["app.test"])
        XCTAssertEqual(request.headers[canonicalForm: "x-forwarded-for"], ["10.9.9.9", "127.0.0.1"])
        XCTAssertEqual(request.headers[canonicalForm: "forwarded"], ["for=10.9.9.9", "for=127.0.0.1;proto=http"])
        XCTAssertFalse(request.headers.contains(name: "x-private"), "a field Connection names still goes")
        XCTAssertFalse(request.headers.contains(name: "connection"))
        await client.close()
        await proxy.shutdown()
        await backend.shutdown()
    }

    func testDoubleHostAndAmbiguousFramingGet400AndReachNoBackend() async throws {
        let (backend, seen) = try await startRecordingBackend()
        let proxy = try await startProxy(CycleSelector(cycle: [upstream("c1", backend.port)]))
        // Which layer refuses: the proxy's request parser (RequestParser) refuses any framing it could read two ways
        // with a bare 400, the proxy's checks of the head (RequestFields) the rest with a 400 or 417 and a reason.
        let parser = "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n"
        let proxyRefusal = "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain"
        let cases: [(String, String)] = [
            ("GET / HTTP/1.1\r\nHost: app.test\r\nHost: evil.test\r\n\r\n", proxyRefusal),
            ("GET / HTTP/1.1\r\n\r\n", proxyRefusal),
            ("GET / HTTP/1.1\r\nHost: app.test, evil.test\r\n\r\n", proxyRefusal),
            ("POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", parser),
            ("POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", parser),
            ("POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", parser),
            ("POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5, 6\r\n\r\nhello!", parser),
            // llhttp let a lone unknown coding through (and would read the body until close); both are refused.
            ("POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: gzip\r\n\r\nxxxx", parser),
            ("POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", parser),
            ("POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", parser),
            ("POST / HTTP/1.1\r\nHost: app.test\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\nx", "HTTP/1.1 417 Expectation Failed\r\n"),
            // A tunnel would swallow what follows on a pooled upstream connection: refused in every form.
            ("CONNECT /x HTTP/1.1\r\nHost: app.test\r\nContent-Length: 3\r\n\r\nabc", "HTTP/1.1 405 Method Not Allowed\r\n"),
            ("CONNECT app.test:443 HTTP/1.1\r\nHost: app.test:443\r\n\r\n", "HTTP/1.1 405 Method Not Allowed\r\n"),
            ("GET / HTTP/1.1\r\nHost: app.test}\r\n\r\n", proxyRefusal),
        ]
        for (request, answer) in cases {
            let text = try await rawExchange(port: proxy.port, request)
            XCTAssertTrue(text.hasPrefix(answer), "\(request.debugDescription) → \(text.debugDescription)")
            XCTAssertTrue(text.contains("connection: close\r\n"), text)
        }
        XCTAssertEqual(seen.withLock { $0.count }, 0, "no refused request may reach the backend")
        await proxy.shutdown()
        await backend.shutdown()
    }

    func testTheProxysOwnRequestParserFramesBodiesAsTheBackendReadsThem() async throws {
        let (backend, seen) = try await startRecordingBackend()
        let proxy = try await startProxy(CycleSelector(cycle: [upstream("c1", backend.port)]))
        // A chunked body with extensions and a trailer, split oddly, then a request with a length: each reaches the
        // backend whole, and the bytes after the first body are read as the second request, not as body.
        let text = try await rawExchange(port: proxy.port,
            "POST /echo HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n3;x=\"y\"\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n"
            + "POST /echo HTTP/1.1\r\nHost: app.test\r\nContent-Length: 3\r\nConnection: close\r\n\r\nxyz")
        XCTAssertEqual(text.components(separatedBy: "HTTP/1.1 200 OK").count, 3, text)
        XCTAssertTrue(text.hasSuffix("xyz"), text)
        XCTAssertEqual(seen.withLock { $0.map { String(buffer: $0.body) } }, ["abcde", "xyz"])
        // A head past 64 KiB gets 431 without the proxy waiting for its end.
        let large = try await rawExchange(port: proxy.port, "GET / HTTP/1.1\r\nHost: app.test\r\nX: " + String(repeating: "a", count: 70_000))
        XCTAssertTrue(large.hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"), large)
        // An HTTP/1.0 request is the connection's last: whatever follows it is dropped, and its answer still comes.
        let last = try await rawExchange(port: proxy.port, "GET /one HTTP/1.0\r\nHost: app.test\r\n\r\nNOT A REQUEST\r\n\r\n")
        XCTAssertTrue(last.hasPrefix("HTTP/1.0 200 OK\r\n") && last.hasSuffix("answer for /one"), last)
        XCTAssertEqual(seen.withLock { $0.map(\.uri) }, ["/echo", "/echo", "/one"])
        await proxy.shutdown()
        await backend.shutdown()
    }

    func testDotSegmentsAreNormalisedBeforeRoutingAndForwardedNormalised() async throws {
        let (svc1, seenSvc1) = try await startRecordingBackend()
        let (admin, seenAdmin) = try await startRecordingBackend()
        let selector = PathSelector(routes: [("/svc1", upstream("c1", svc1.port)), ("/admin", upstream("c2", admin.port))])
        let proxy = try await startProxy(selector)
        let client = try await TestHTTPClient.connect(port: proxy.port)
        let cases: [(String, String, HTTPResponseStatus)] = [
            ("/svc1/../admin", "answer for /admin", .ok),
            ("/svc1/%2e%2e/admin?x=1", "answer for /admin?x=1", .ok),
            ("/svc1/./a/../b", "answer for /svc1/b", .ok),
            ("//svc1//a", "answer for /svc1/a", .ok),
            ("/svc1/../../../admin", "answer for /admin", .ok),
        ]
        for (path, text, status) in cases {
            let response = try await client.request(.GET, path)
            XCTAssertEqual(response.status, status, path)
            XCTAssertEqual(response.text, text, path)
        }
        XCTAssertEqual(selector.routedPaths, ["/admin", "/admin", "/svc1/b", "/svc1/a", "/admin"])
        await client.close()
        // Ambiguous: refused before routing.
        for path in ["/svc1/..%2Fadmin", "/svc1/..%5cadmin", "/svc1/..;/admin", "/svc1/%zz"] {
            let text = try await rawExchange(port: proxy.port, "GET \(path) HTTP/1.1\r\nHost: app.test\r\n\r\n")
            XCTAssertTrue(text.hasPrefix("HTTP/1.1 400 "), "\(path) → \(text)")
        }
        // The absolute form goes upstream in origin form with its authority as Host, normalised too.
        let absolute = try await rawExchange(
            port: proxy.port, "GET http://app.test/svc1/../admin HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n"
        )
        XCTAssertTrue(absolute.hasSuffix("answer for /admin"), absolute)
        XCTAssertEqual(seenAdmin.withLock { $0.last?.headers.first(name: "host") }, "app.test")
        XCTAssertEqual(seenSvc1.withLock { $0.map(\.uri) }, ["/svc1/b", "/svc1/a"])
        await proxy.shutdown()
        await svc1.shutdown()
        await admin.shutdown()
    }

    func testExpectContinueIsAnsweredSoTheClientDoesNotWait() async throws {
        let (backend, seen) = try await startRecordingBackend()
        let proxy = try await startProxy(CycleSelector(cycle: [upstream("c1", backend.port)]))
        let client = try await RawClient.connect(port: proxy.port)
        try await client.send("POST /echo HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        // curl waits a second for this before sending anyway; the proxy answers at once.
        _ = try await client.waitFor("HTTP/1.1 100 Continue\r\n\r\n", timeout: .milliseconds(500))
        try await client.send("hello")
        let text = try await client.waitFor("\r\n\r\nhello")
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"), text)
        XCTAssertFalse(seen.withLock { $0.first?.headers.contains(name: "expect") ?? true }, "the proxy answered the expectation itself")
        await client.close()

        // No route: a final answer instead of 100, and the connection closes, since the body may or may not follow.
        let lost = try await RawClient.connect(port: proxy.port)
        try await lost.send("POST /x HTTP/1.1\r\nHost: nowhere.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        let answer = try await lost.waitForClose(timeout: .seconds(2))
        XCTAssertTrue(answer.hasPrefix("HTTP/1.1 404 Not Found\r\n"), answer)
        XCTAssertTrue(answer.contains("connection: close\r\n"), answer)
        await proxy.shutdown()
        await backend.shutdown()
    }

    // MARK: Finding 5: connections that never finish

    private static func shortDeadlines(_ configuration: inout WeightedProxy.Configuration) {
        configuration.requestHeaderTimeout = .milliseconds(150)
        configuration.requestBodyTimeout = .milliseconds(150)
        configuration.responseTimeout = .milliseconds(300)
    }

    /// Sends `request` and waits for the proxy to close the connection; the wait must end within a second.
    private func expectClosedSoon(port: Int, _ request: String, after answer: String? = nil) async throws -> String {
        let client = try await RawClient.connect(port: port)
        if !request.isEmpty { try await client.send(request) }
        if let answer { _ = try await client.waitFor(answer) }
        let started = ContinuousClock.now
        let text = try await client.waitForClose(timeout: .seconds(3))
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(1), "closed only after \(ContinuousClock.now - started)")
        return text
    }

    func testManySilentConnectionsAreCutOffAtTheHeadTimeoutNotBefore() async throws {
        // The deadlines of every connection of a loop are checked by one pass a tick (LoopClients): each silent
        // connection closes after its 150 ms, at most a tick (19 ms) and the machine's delays later.
        let backend = try await DemoBackend(name: "c1", port: 0).start()
        let proxy = try await startProxy(CycleSelector(cycle: [upstream("c1", backend.port)]), Self.shortDeadlines)
        var clients: [(RawClient, ContinuousClock.Instant)] = []
        for _ in 0..<50 { clients.append((try await RawClient.connect(port: proxy.port), .now)) }
        for (client, connected) in clients {
            _ = try await client.waitForClose(timeout: .seconds(3))
            let lived = ContinuousClock.now - connected
            XCTAssertGreaterThanOrEqual(lived, .milliseconds(150))
            XCTAssertLessThan(lived, .seconds(2))
        }
        await proxy.shutdown()
        await backend.shutdown()
    }

    func testABodyThatNeverArrivesAfterAnEarlyAnswerIsCutOff() async throws {
        let upstreamChannel = try await startScriptedUpstream { _ in
            ("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", true)
        }
        let port = try XCTUnwrap(upstreamChannel.localAddress?.port)
        let proxy = try await startProxy(CycleSelector(cycle: [upstream("c1", port)]), Self.shortDeadlines)
        let sized = try await expectClosedSoon(
            port: proxy.port, "POST /upload HTTP/1.1\r\nHost: app.test\r\nContent-Length: 1000000000\r\n\r\npartial", after: "413"
        )
        XCTAssertTrue(sized.hasPrefix("HTTP/1.1 413 Payload Too Large\r\n"), sized)
        let chunked = try await expectClosedSoon(
            port: proxy.port, "POST /upload HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", after: "413"
        )
        XCTAssertTrue(chunked.hasPrefix("HTTP/1.1 413 Payload Too Large\r\n"), chunked)
        await proxy.shutdown()
        try await upstreamChannel.close()
    }

    func testABodyThatStopsGets408AndTheConnectionCloses() async throws {
        // An upstream that waits for the whole body, as most do: it never answers this one.
        let upstreamChannel = try await startScriptedUpstream { _ in ("", false) }
        let port = try XCTUnwrap(upstreamChannel.localAddress?.port)
        let recorder = HookRecorder()
        let proxy = try await startProxy(CycleSelector(cycle: [upstream("c1", port)]), hooks: recorder.hooks, Self.shortDeadlines)
        let text = try await expectClosedSoon(
            port: proxy.port, "POST /upload HTTP/1.1\r\nHost: app.test\r\nContent-Length: 1000000000\r\n\r\npartial"
        )
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"), text)
        XCTAssertEqual(recorder.responses, ["- 408": 1])
        await proxy.shutdown()
        try await upstreamChannel.close()
    }

    func testAHeadThatNeverEndsGets408AndASilentConnectionIsClosed() async throws {
        let proxy = try await startProxy(CycleSelector(cycle: []), Self.shortDeadlines)
        let partial = try await expectClosedSoon(port: proxy.port, "GET / HTTP/1.1\r\nHost: app")
        XCTAssertTrue(partial.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"), partial)
        let silent = try await expectClosedSoon(port: proxy.port, "")
        XCTAssertEqual(silent, "")
        // Slowloris on a kept-alive connection: the next head's deadline runs from its first byte.
        let client = try await RawClient.connect(port: proxy.port)
        try await client.send("GET / HTTP/1.1\r\nHost: nowhere.test\r\n\r\n")
        _ = try await client.waitFor("404")
        try await client.send("GET / HTTP/1.1\r\n")
        let started = ContinuousClock.now
        let text = try await client.waitForClose(timeout: .seconds(3))
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(1))
        XCTAssertTrue(text.contains("HTTP/1.1 408 Request Timeout\r\n"), text)
        await proxy.shutdown()
    }

    func testAResponseThatStallsClosesTheClientConnection() async throws {
        let upstreamChannel = try await startScriptedUpstream { _ in
            ("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + String(repeating: "x", count: 5000), false)
        }
        let port = try XCTUnwrap(upstreamChannel.localAddress?.port)
        let proxy = try await startProxy(CycleSelector(cycle: [upstream("c1", port)]), Self.shortDeadlines)
        let client = try await RawClient.connect(port: proxy.port)
        try await client.send("GET /stall HTTP/1.1\r\nHost: app.test\r\n\r\n")
        _ = try await client.waitFor("xxxxx")
        let started = ContinuousClock.now
        let text = try await client.waitForClose(timeout: .seconds(3))
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(1.5))
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 200 OK\r\n"), text)
        await proxy.shutdown()
        try await upstreamChannel.close()
    }

    func testConnectionsOverTheLimitGet503WhileThoseUnderItAreServed() async throws {
        let backend = try await DemoBackend(name: "c1", port: 0).start()
        let recorder = HookRecorder()
        let proxy = try await startProxy(CycleSelector(cycle: [upstream("c1", backend.port)]), hooks: recorder.hooks) {
            $0.maxConnections = 2
        }
        let first = try await TestHTTPClient.connect(port: proxy.port)
        let second = try await TestHTTPClient.connect(port: proxy.port)
        let firstAnswer = try await first.request(.GET, "/")
        let secondAnswer = try await second.request(.GET, "/")
        XCTAssertEqual(firstAnswer.status, .ok)
        XCTAssertEqual(secondAnswer.status, .ok)

        for _ in 0..<3 {
            let shed = try await rawExchange(port: proxy.port, "GET / HTTP/1.1\r\nHost: app.test\r\n\r\n")
            XCTAssertTrue(shed.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"), shed)
            XCTAssertTrue(shed.contains("retry-after: 1\r\n"), shed)
        }
        // The connections under the limit are still served.
        let again = try await first.request(.GET, "/")
        XCTAssertEqual(again.status, .ok)

        // A place freed is a place taken again (the proxy sees the close a moment after the client).
        await second.close()
        var served = false
        for _ in 0..<100 where !served {
            let text = try await rawExchange(port: proxy.port, "GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
            served = text.hasPrefix("HTTP/1.1 200 OK\r\n")
            if !served { try await Task.sleep(for: .milliseconds(20)) }
        }
        XCTAssertTrue(served, "the freed place was not taken again")
        XCTAssertGreaterThanOrEqual(recorder.responses["- 503"] ?? 0, 3)
        await first.close()
        await proxy.shutdown()
        await backend.shutdown()
    }

    func testNearTheLimitIdleConnectionsMakeRoom() async throws {
        let backend = try await DemoBackend(name: "c1", port: 0).start()
        let proxy = try await startProxy(CycleSelector(cycle: [upstream("c1", backend.port)])) {
            $0.maxConnections = 2
            $0.requestHeaderTimeout = .milliseconds(150)
        }
        // Two idle keep-alive connections fill the proxy: instead of the 75 s idle timeout, they get the head timeout.
        var clients: [RawClient] = []
        for _ in 0..<2 {
            let client = try await RawClient.connect(port: proxy.port)
            try await client.send("GET / HTTP/1.1\r\nHost: app.test\r\n\r\n")
            _ = try await client.waitFor("c1\n")
            clients.append(client)
        }
        // A new client finds a place within about the head timeout, not after the idle timeout.
        let started = ContinuousClock.now
        var served = false
        for _ in 0..<100 where !served {
            let text = try await rawExchange(port: proxy.port, "GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
            served = text.hasPrefix("HTTP/1.1 200 OK\r\n")
            if !served { try await Task.sleep(for: .milliseconds(20)) }
        }
        XCTAssertTrue(served)
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(1))
        for client in clients { await client.close() }
        await proxy.shutdown()
        await backend.shutdown()
    }
}

/// Routes by path prefix (any host), one upstream per route, and records the paths it was asked to route.
final class PathSelector: UpstreamSelector, UpstreamTable {
    private let routes: [(prefix: String, upstream: Upstream)]
    private let asked = Locked([String]())

    init(routes: [(String, Upstream)]) {
        self.routes = routes.map { (prefix: $0.0, upstream: $0.1) }
    }

    var routedPaths: [String] { asked.withLock { $0 } }

    func route(host: String, path: String) -> Int? {
        asked.withLock { $0.append(path) }
        return routes.firstIndex { path == $0.prefix || path.hasPrefix($0.prefix + "/") }
    }

    func pick(route: Int) -> Upstream? { routes[route].upstream }

    func pickRetry(route: Int, excluding: Upstream) -> Upstream? { nil }
}
