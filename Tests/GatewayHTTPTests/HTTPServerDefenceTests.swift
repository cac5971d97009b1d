// The small server's defences against clients that hold on: deadlines on every connection state, backpressure
// against pipelining without reading, and the connection limit. Raw sockets on loopback, short configured
// deadlines, and waits on conditions with deadlines of their own.
import GatewayHTTP
import NIOCore
import NIOPosix
import XCTest

final class HTTPServerDefenceTests: XCTestCase {
    /// Deadlines long enough never to fire in a test, so each test shortens only the one it is about.
    private func configuration(
        idle: Duration = .seconds(30), head: Duration = .seconds(30), body: Duration = .seconds(30),
        write: Duration = .seconds(30), maxConnections: Int = 128
    ) -> HTTPServer.Configuration {
        .init(port: 0, idleTimeout: idle, requestHeadTimeout: head, requestBodyTimeout: body,
              responseWriteTimeout: write, maxConnections: maxConnections)
    }

    private func okServer(_ configuration: HTTPServer.Configuration) -> HTTPServer {
        HTTPServer(configuration: configuration) { _ in HTTPServerResponse(status: .ok, text: "ok") }
    }

    func testIdleKeepAliveConnectionIsClosedAtTheIdleDeadline() async throws {
        let server = okServer(configuration(idle: .milliseconds(300)))
        let bound = try await server.start()
        let client = try await RawConnection.open(port: bound.port)
        client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        try await waitUntil { client.text.hasSuffix("\r\n\r\nok") }
        let lived = try await client.closed(within: .seconds(5))
        XCTAssertGreaterThanOrEqual(lived, .milliseconds(250))
        XCTAssertEqual(server.stats.idleTimeouts, 1)
        await bound.shutdown()
    }

    func testPartialHeadIsClosedAtTheHeadDeadlineNotTheIdleOne() async throws {
        let server = okServer(configuration(head: .milliseconds(300)))
        let bound = try await server.start()
        let client = try await RawConnection.open(port: bound.port)
        client.send("GET / HTTP/1.1\r\nHost: x\r\n")
        let lived = try await client.closed(within: .seconds(5))
        XCTAssertGreaterThanOrEqual(lived, .milliseconds(250))
        XCTAssertEqual(server.stats.headTimeouts, 1)
        XCTAssertEqual(server.stats.requests, 0)
        await bound.shutdown()
    }

    func testStalledBodyIsClosedAtTheBodyDeadline() async throws {
        let server = okServer(configuration(body: .milliseconds(300)))
        let bound = try await server.start()
        let client = try await RawConnection.open(port: bound.port)
        client.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        let lived = try await client.closed(within: .seconds(5))
        XCTAssertGreaterThanOrEqual(lived, .milliseconds(250))
        XCTAssertEqual(server.stats.bodyTimeouts, 1)
        XCTAssertEqual(server.stats.requests, 0)
        await bound.shutdown()
    }

    func testBodyThatKeepsMovingOutlivesTheBodyDeadline() async throws {
        let server = HTTPServer(configuration: configuration(body: .milliseconds(400))) { request in
            HTTPServerResponse(status: .ok, text: "got \(request.body.readableBytes)")
        }
        let bound = try await server.start()
        let client = try await RawConnection.open(port: bound.port)
        client.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n")
        // Paced on purpose: six bytes over 0.6 s, each gap well inside the 0.4 s body deadline.
        for _ in 0..<6 {
            try await Task.sleep(for: .milliseconds(100))
            client.send("a")
        }
        try await waitUntil { client.text.hasSuffix("got 6") }
        XCTAssertEqual(server.stats.bodyTimeouts, 0)
        await client.close()
        await bound.shutdown()
    }

    func testClientThatNeverReadsItsAnswerIsClosedAtTheWriteDeadline() async throws {
        let big = ByteBuffer(repeating: UInt8(ascii: "x"), count: 4 << 20)
        let server = HTTPServer(configuration: configuration(write: .milliseconds(300))) { _ in
            HTTPServerResponse(status: .ok, body: big)
        }
        let bound = try await server.start()
        let client = try await RawConnection.open(port: bound.port, reading: false)
        client.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        // The client reads nothing, so it would not see the close: watch the server's side.
        try await waitUntil { server.stats.writeTimeouts == 1 && bound.openConnections == 0 }
        XCTAssertGreaterThanOrEqual(server.stats.backpressurePauses, 1)
        await client.close()
        await bound.shutdown()
    }

    /// The attack: one client pipelining thousands of requests without reading added 91 MB to the
    /// gateway. Now the server stops reading once the socket stops taking answers, so what it has answered (and
    /// so buffered) while the client reads nothing stays small; once the client reads, every answer comes, in order.
    func testPipeliningClientThatNeverReadsIsPausedAfterFewAnswers() async throws {
        let requests = 1_000
        let answer = ByteBuffer(repeating: UInt8(ascii: "y"), count: 32 << 10)
        let server = HTTPServer(configuration: configuration()) { _ in HTTPServerResponse(status: .ok, body: answer) }
        let bound = try await server.start()
        let client = try await RawConnection.open(port: bound.port, reading: false)
        client.send(String(repeating: "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", count: requests))
        try await waitUntil(timeout: .seconds(10)) { server.stats.backpressurePauses >= 1 }
        let answeredUnread = server.stats.requests
        print("pipelining without reading: \(answeredUnread) of \(requests) requests answered (32 KiB each) before the server stopped reading")
        // The kernel's socket buffers take some answers (its send buffer grows up to tcp_wmem's maximum, 4 MiB by
        // default); past those, the server holds one answer and its 64 KiB write buffer. 1,000 answers are 32 MiB.
        let sendBufferMax = (try? String(contentsOfFile: "/proc/sys/net/ipv4/tcp_wmem", encoding: .utf8))?
            .split(whereSeparator: \.isWhitespace).last.flatMap { Int($0) } ?? 4 << 20
        XCTAssertLessThanOrEqual(answeredUnread, (sendBufferMax + (1 << 20)) / answer.readableBytes)

        client.startReading()
        let expected = requests * (answer.readableBytes + "HTTP/1.1 200 OK\r\ncontent-length: 32768\r\n\r\n".utf8.count)
        try await waitUntil(timeout: .seconds(20)) { client.bytes >= expected }
        XCTAssertEqual(client.bytes, expected)
        XCTAssertEqual(server.stats.requests, requests)
        await client.close()
        await bound.shutdown()
    }

    /// An immediate handler answers a deep pipeline in a loop, not by recursion, and in order.
    func testDeepPipelineToAnImmediateHandlerIsAnsweredInFull() async throws {
        let backend = DemoBackend(name: "web-demo", port: 0)
        let bound = try await backend.start()
        let client = try await RawConnection.open(port: bound.port)
        let requests = 5_000
        client.send(String(repeating: "GET /x HTTP/1.1\r\nHost: x\r\n\r\n", count: requests))
        let one = "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 9\r\n\r\nweb-demo\n".utf8.count
        try await waitUntil(timeout: .seconds(20)) { client.bytes >= requests * one }
        XCTAssertEqual(client.bytes, requests * one)
        await client.close()
        await bound.shutdown()
    }

    func testConnectionOverTheLimitIsAnswered503AndClosed() async throws {
        let server = okServer(configuration(maxConnections: 2))
        let bound = try await server.start()
        let first = try await RawConnection.open(port: bound.port)
        let second = try await RawConnection.open(port: bound.port)
        try await waitUntil { bound.openConnections == 2 }

        let third = try await RawConnection.open(port: bound.port)
        third.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        _ = try await third.closed(within: .seconds(5))
        XCTAssertTrue(third.text.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"), third.text)
        XCTAssertEqual(server.stats.refusedOverLimit, 1)
        XCTAssertEqual(server.stats.requests, 0)

        // Under the limit again, a connection is served.
        await first.close()
        try await waitUntil { bound.openConnections == 1 }
        let fourth = try await RawConnection.open(port: bound.port)
        fourth.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        try await waitUntil { fourth.text.hasSuffix("\r\n\r\nok") }
        XCTAssertTrue(fourth.text.hasPrefix("HTTP/1.1 200 OK"))
        await second.close()
        await fourth.close()
        await bound.shutdown()
    }
}

/// A raw client connection that counts (and keeps the start of) what it receives, and can hold off reading.
final class RawConnection: Sendable {
    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let received: Locked<(bytes: Int, text: String)>

        init(_ received: Locked<(bytes: Int, text: String)>) {
            self.received = received
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            received.withLock { state in
                state.bytes += buffer.readableBytes
                // Only the start is kept as text: tests look at heads and short bodies.
                if state.text.utf8.count < 4096 { state.text += String(buffer: buffer) }
            }
        }
    }

    let channel: any Channel
    private let received: Locked<(bytes: Int, text: String)>

    private init(channel: any Channel, received: Locked<(bytes: Int, text: String)>) {
        self.channel = channel
        self.received = received
    }

    /// Connects to `port` on loopback. With `reading: false` nothing is read until ``startReading()``, and the
    /// receive buffer is small, so the server's answers back up quickly.
    static func open(port: Int, reading: Bool = true) async throws -> RawConnection {
        let received = Locked((bytes: 0, text: ""))
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(2))
            .channelOption(.autoRead, value: reading)
        if !reading { bootstrap = bootstrap.channelOption(.socketOption(.so_rcvbuf), value: 4096) }
        let channel = try await bootstrap
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Collector(received))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawConnection(channel: channel, received: received)
    }

    /// Every byte received so far.
    var bytes: Int { received.withLock { $0.bytes } }
    /// The first few KiB received, as text.
    var text: String { received.withLock { $0.text } }

    func send(_ text: String) {
        channel.writeAndFlush(ByteBuffer(string: text), promise: nil)
    }

    /// Starts reading what the server sent and keeps reading.
    func startReading() {
        channel.setOption(.autoRead, value: true).whenSuccess { [channel] in channel.read() }
    }

    /// Waits for the server to close the connection; returns how long that took, or throws after `timeout`.
    func closed(within timeout: Duration) async throws -> Duration {
        let start = ContinuousClock.now
        let done = channel.eventLoop.makePromise(of: Void.self)
        let timer = channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) { done.fail(TestClientError.timedOut) }
        channel.closeFuture.whenComplete { _ in
            timer.cancel()
            done.succeed(())
        }
        try await done.futureResult.get()
        return ContinuousClock.now - start
    }

    func close() async {
        try? await channel.close()
    }
}
