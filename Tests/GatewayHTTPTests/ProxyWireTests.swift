import GatewayHTTP
import NIOCore
import NIOHTTP1
import XCTest

/// The proxy against upstreams and clients that send what NIO's own peers would not.
final class ProxyWireTests: XCTestCase {
    private static func script(_ path: String) -> (bytes: String, close: Bool) {
        switch path {
        case "/chunked":
            return ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Up: 1\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", false)
        case "/close":
            return ("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close", true)
        case "/garbage":
            return ("NOT HTTP AT ALL\r\n\r\n", true)
        case "/halfway":
            return ("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", true)
        case "/halfway-large":
            return ("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + String(repeating: "x", count: 5000), true)
        default:
            return ("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false)
        }
    }

    func testChunkedAndCloseDelimitedUpstreamAnswersReachTheClientIntact() async throws {
        let upstreamChannel = try await startScriptedUpstream(Self.script)
        let port = try XCTUnwrap(upstreamChannel.localAddress?.port)
        let proxy = try await startProxy(CycleSelector(cycle: [upstream("c1", port)]))
        let client = try await TestHTTPClient.connect(port: proxy.port)
        let chunked = try await client.request(.GET, "/chunked")
        XCTAssertEqual(chunked.text, "hello world")
        XCTAssertEqual(chunked.headers.first(name: "x-up"), "1")
        XCTAssertEqual(chunked.headers.first(name: "x-zone-cluster"), "c1")
        let untilClose = try await client.request(.GET, "/close")
        XCTAssertEqual(untilClose.text, "until close")
        // Both were re-framed for this hop, so the client connection lives on.
        let after = try await client.request(.GET, "/")
        XCTAssertEqual(after.text, "ok")
        await client.close()

        let old = try await rawExchange(port: proxy.port, "GET /chunked HTTP/1.0\r\nHost: app.test\r\n\r\n")
        XCTAssertTrue(old.hasPrefix("HTTP/1.0 200 OK\r\n"), old)
        XCTAssertTrue(old.hasSuffix("\r\n\r\nhello world"), "an HTTP/1.0 client gets the body until close: \(old)")
        await proxy.shutdown()
        try await upstreamChannel.close()
    }

    func testGarbageFromUpstreamIs502AndACutResponseClosesTheClient() async throws {
        let upstreamChannel = try await startScriptedUpstream(Self.script)
        let port = try XCTUnwrap(upstreamChannel.localAddress?.port)
        let recorder = HookRecorder()
        let proxy = try await startProxy(CycleSelector(cycle: [upstream("c1", port)]), hooks: recorder.hooks)
        let client = try await TestHTTPClient.connect(port: proxy.port)
        let garbage = try await client.request(.GET, "/garbage")
        XCTAssertEqual(garbage.status, .badGateway)
        // Cut short while the proxy still held the (small) response: the client gets a proper 502.
        let cut = try await client.request(.GET, "/halfway")
        XCTAssertEqual(cut.status, .badGateway)
        do {
            _ = try await client.request(.GET, "/halfway-large")
            XCTFail("a response cut short must not look complete")
        } catch {
            // The client connection was closed: the only honest signal once the head has gone out.
        }
        XCTAssertEqual(recorder.failures, [.closedBeforeResponse, .closedMidResponse, .closedMidResponse])
        await client.close()
        await proxy.shutdown()
        try await upstreamChannel.close()
    }

    func testPipelinedRequestsAreAnsweredInOrder() async throws {
        let b1 = try await DemoBackend(name: "c1", port: 0).start()
        let b2 = try await DemoBackend(name: "c2", port: 0).start()
        let proxy = try await startProxy(CycleSelector(cycle: [upstream("c1", b1.port), upstream("c2", b2.port)]))
        let request = "GET /a HTTP/1.1\r\nHost: app.test\r\n\r\n"
        let last = "GET /c HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n"
        let text = try await rawExchange(port: proxy.port, request + request + last)
        let bodies = text.components(separatedBy: "\r\n\r\n").dropFirst().map { $0.prefix(3) }
        XCTAssertEqual(bodies, ["c1\n", "c2\n", "c1\n"], text)
        // Only the last request closes: keep-alive is each request's own, though the parser read all three at once.
        let responses = text.lowercased().components(separatedBy: "http/1.1 ").dropFirst()
        XCTAssertEqual(responses.map { $0.contains("connection: close") }, [false, false, true], text)
        await proxy.shutdown()
        await b1.shutdown()
        await b2.shutdown()
    }

    func testMalformedRequestGets400() async throws {
        let proxy = try await startProxy(CycleSelector(cycle: []))
        let text = try await rawExchange(port: proxy.port, "THIS IS NOT HTTP\r\n\r\n")
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), text)
        await proxy.shutdown()
    }

    func testHeadRequestGetsHeadersWithoutBody() async throws {
        let backend = try await DemoBackend(name: "c1", port: 0).start()
        let proxy = try await startProxy(CycleSelector(cycle: [upstream("c1", backend.port)]))
        let client = try await TestHTTPClient.connect(port: proxy.port)
        let head = try await client.request(.HEAD, "/")
        XCTAssertEqual(head.status, .ok)
        XCTAssertEqual(head.body.readableBytes, 0)
        XCTAssertEqual(head.headers.first(name: "x-zone-cluster"), "c1")
        let get = try await client.request(.GET, "/")
        XCTAssertEqual(get.text, "c1\n")
        await client.close()
        await proxy.shutdown()
        await backend.shutdown()
    }
}

extension String {
    func components(separatedBy separator: String) -> [String] {
        var parts: [String] = []
        var rest = self[...]
        while let range = String(rest).range(of: separator) {
            let string = String(rest)
            parts.append(String(string[..<range.lowerBound]))
            rest = string[range.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }
}
