// The proxy's deadlines are checked by one pass a tick per event loop (LoopClients), not a timer per connection.
import NIOCore
import NIOEmbedded
import XCTest

@testable import GatewayHTTP

final class DeadlineSweepTests: XCTestCase {
    private func timeouts(head: TimeAmount, perTry: TimeAmount? = nil) -> ClientTimeouts {
        ClientTimeouts(requestHead: head, requestBody: .seconds(60), response: .seconds(30), idle: .seconds(75), perTry: perTry)
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
        let shared = ProxyShared(
            selector: CycleSelector(cycle: [upstream("c1", 1)]), hooks: ProxyHooks(), timeouts: timeouts(head: .seconds(10)),
            retryBodyLimit: 0, limit: ConnectionLimit(maximum: 10) { _, _ in })
        let pool = UpstreamPool(eventLoop: loop, maxIdlePerUpstream: 1, idleTimeout: .seconds(1), connectTimeout: .seconds(1))
        try channel.pipeline.syncOperations.addHandler(ProxyHandler(shared: shared, pool: pool, clients: clients))
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
}
