import GatewayHTTP
import NIOCore
import NIOHTTP1
import XCTest

final class HTTPServerTests: XCTestCase {
    func testServerAnswersSeveralRequestsOnOneConnection() async throws {
        let server = try await HTTPServer(configuration: .init(port: 0)) { request in
            HTTPServerResponse(status: .ok, text: "\(request.method) \(request.path) \(request.body.readableBytes)")
        }.start()
        XCTAssertNotEqual(server.port, 0)
        let client = try await TestHTTPClient.connect(port: server.port)
        for i in 0..<3 {
            let response = try await client.request(.POST, "/thing?i=\(i)", body: ByteBuffer(string: "abc"))
            XCTAssertEqual(response.status, .ok)
            XCTAssertEqual(response.text, "POST /thing 3")
        }
        XCTAssertEqual(server.acceptedConnections, 1)
        await client.close()
        await server.shutdown()
    }

    func testServerRejectsOversizedBodyWith413() async throws {
        let server = try await HTTPServer(configuration: .init(port: 0, maxRequestBodySize: 1024)) { _ in
            HTTPServerResponse(status: .ok)
        }.start()
        let client = try await TestHTTPClient.connect(port: server.port)
        let response = try await client.request(.POST, "/", body: ByteBuffer(repeating: 1, count: 4096))
        XCTAssertEqual(response.status, .payloadTooLarge)
        await client.close()
        await server.shutdown()
    }

    func testDemoBackendAnswersNameAndHealthAndCanFail() async throws {
        let backend = DemoBackend(name: "web-demo", port: 0)
        let server = try await backend.start()
        let client = try await TestHTTPClient.connect(port: server.port)
        let health = try await client.request(.GET, "/healthz")
        XCTAssertEqual(health.status, .ok)
        XCTAssertEqual(health.text, "ok\n")
        let page = try await client.request(.GET, "/anything/else")
        XCTAssertEqual(page.status, .ok)
        XCTAssertEqual(page.text, "web-demo\n")

        let fail = try await client.request(.POST, "/admin/fail")
        XCTAssertEqual(fail.status, .ok)
        XCTAssertTrue(backend.isFailing)
        let failing = try await client.request(.GET, "/healthz")
        XCTAssertEqual(failing.status, .serviceUnavailable)
        _ = try await client.request(.POST, "/admin/recover")
        let recovered = try await client.request(.GET, "/healthz")
        XCTAssertEqual(recovered.status, .ok)
        await client.close()
        await server.shutdown()
    }

    func testRunReturnsWhenCancelled() async throws {
        let server = HTTPServer(configuration: .init(port: 0)) { _ in HTTPServerResponse(status: .ok) }
        let task = Task { try await server.run() }
        task.cancel()
        // Bounded: a run() that ignored cancellation would hang the test here, and XCTest's timeout would fail it.
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await task.value }
            group.addTask {
                try await Task.sleep(for: .seconds(5))
                throw TestClientError.timedOut
            }
            try await group.next()
            group.cancelAll()
        }
    }

    func testShutdownLetsAnInFlightRequestFinish() async throws {
        let finish = Gate()
        let server = try await HTTPServer(configuration: .init(host: "127.0.0.1", port: 0)) { _ in
            await finish.pass()
            return HTTPServerResponse(status: .ok, text: "done")
        }.start()
        let client = try await TestHTTPClient.connect(port: server.port)
        async let response = client.request(.GET, "/")
        // The request is being handled once its handler waits at the gate; it finishes only once
        // shutdown is under way (the server no longer accepts connections).
        try await waitUntil { finish.held == 1 }
        let port = server.port
        async let shutdown: Void = server.shutdown(gracePeriod: .seconds(5))
        try await waitUntil(timeout: .seconds(10)) { !acceptsConnections(port: port) }
        finish.open()
        await shutdown
        let answered = try await response
        XCTAssertEqual(answered.text, "done")
        await client.close()
    }
}

/// Polls `condition` every 10 ms until it holds, failing after `timeout`.
func waitUntil(timeout: Duration = .seconds(5), _ condition: @Sendable () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else { throw TestClientError.timedOut }
        try await Task.sleep(for: .milliseconds(10))
    }
}
