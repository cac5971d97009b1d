// The proxy's deadlines are checked by one pass a tick per event loop (LoopClients), not a timer per connection.
import NIOCore
import NIOEmbedded
import XCTest

@testable import GatewayHTTP

final class DeadlineSweepTests: XCTestCase {
    private func timeouts(head: TimeAmount, response: TimeAmount = .seconds(30), perTry: TimeAmount? = nil) -> ClientTimeouts {
        ClientTimeouts(requestHead: head, requestBody: .seconds(60), response: response, idle: .seconds(75), perTry: perTry)
    }

    private func proxyHandler(on loop: any EventLoop, timeouts: ClientTimeouts, clients: LoopClients) -> ProxyHandler {
        let shared = ProxyShared(
            selector: CycleSelector(cycle: [upstream("c1", 1)]), hooks: ProxyHooks(), timeouts: timeouts,
            retryBodyLimit: 0, limit: ConnectionLimit(maximum: 10) { _, _ in })
        let pool = UpstreamPool(eventLoop: loop, maxIdlePerUpstream: 1, idleTimeout: .seconds(1), connectTimeout: .seconds(1))
        _ = shared.limit.admit()  // the place the handler gives back when it is removed, as the proxy's set-up takes it
        return ProxyHandler(shared: shared, pool: pool, clients: clients)
    }

    func testTheTickIsAnEighthOfTheShortestTimeoutWithinBounds() {
        XCTAssertEqual(LoopClients.tick(for: timeouts(head: .seconds(10))), .milliseconds(250), "at most 250 ms")
        XCTAssertEqual(LoopClients.tick(for: timeouts(head: .milliseconds(800))), .milliseconds(100))
        XCTAssertEqual(LoopClients.tick(for: timeouts(head: .seconds(10), perTry: .milliseconds(200))), .milliseconds(25))
        XCTAssertEqual(LoopClients.tick(for: timeouts(head: .milliseconds(10))), .milliseconds(5), "at least 5 ms")
    }

    func testALoopSweepsOnlyWhileItHasConnections() throws {
        let channel = EmbeddedChannel()
        let loop = channel.embeddedEventLoop
        let clients = LoopClients(eventLoop: loop, tick: .milliseconds(10))
        XCTAssertFalse(clients.isSweeping, "no connection, no pass")
        try channel.pipeline.syncOperations.addHandler(proxyHandler(on: loop, timeouts: timeouts(head: .seconds(10)), clients: clients))
        XCTAssertEqual(clients.count, 1)
        XCTAssertTrue(clients.isSweeping)
        loop.advanceTime(by: .milliseconds(35))
        XCTAssertTrue(clients.isSweeping, "passes go on while the connection lives")
        try channel.close().wait()
        loop.run()
        XCTAssertEqual(clients.count, 0)
        loop.advanceTime(by: .milliseconds(10))
        XCTAssertFalse(clients.isSweeping, "the pass that finds no connection schedules none")
    }

    /// A client that never reads the last bytes of a connection being closed (here a 400): their write never
    /// completes, and without a deadline of its own the connection would stay open as long as the client wished.
    func testAClosingConnectionWhoseLastBytesAreNotTakenIsCutOffAfterTheResponseTimeout() async throws {
        let channel = EmbeddedChannel()
        let loop = channel.embeddedEventLoop
        let clients = LoopClients(eventLoop: loop, tick: .milliseconds(10))
        let handler = proxyHandler(on: loop, timeouts: timeouts(head: .seconds(10), response: .milliseconds(20)), clients: clients)
        try channel.pipeline.syncOperations.addHandlers([WritesNeverComplete(), handler])
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).get()
        try channel.writeInbound(ByteBuffer(string: "NOT A REQUEST\r\n\r\n"))
        XCTAssertTrue(channel.isActive, "the 400 is being written")
        // The deadline is read from the real clock: 30 ms of it pass (at least), then a pass of the sweep runs.
        try await Task.sleep(for: .milliseconds(30))
        loop.advanceTime(by: .milliseconds(10))
        XCTAssertFalse(channel.isActive, "cut off after the response timeout")
    }
}

/// A socket whose peer never reads: writes are held and never complete.
private final class WritesNeverComplete: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    private var held: [EventLoopPromise<Void>] = []

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if let promise { held.append(promise) }
    }

    func flush(context: ChannelHandlerContext) {}

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        for promise in held { promise.fail(ChannelError.ioOnClosedChannel) }
        held = []
        context.close(mode: mode, promise: promise)
    }
}
