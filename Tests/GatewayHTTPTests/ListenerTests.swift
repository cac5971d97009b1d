@testable import GatewayHTTP
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import XCTest

/// `bindServer`'s listening sockets: one per event loop on one port, connections kept on the loop that accepted
/// them, and the port still refused to a second server.
final class ListenerTests: XCTestCase {
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)

    override func tearDown() async throws {
        try await group.shutdownGracefully()
    }

    /// What the server saw of each accepted connection, on the connection's own loop.
    private struct Accepted {
        var loops: Set<ObjectIdentifier> = []
        var count = 0
        var noDelay = 0
        /// Connections set up on another loop than their listener's.
        var handedOver = 0
    }

    private func bind(port: Int = 0, into seen: NIOLockedValueBox<Accepted>) async throws -> BoundServer {
        try await bindServer(host: "127.0.0.1", port: port, group: group, tracker: ConnectionTracker()) { channel in
            let noDelay = try channel.syncOptions!.getOption(.tcpOption(.tcp_nodelay))
            seen.withLockedValue {
                $0.loops.insert(ObjectIdentifier(channel.eventLoop))
                $0.count += 1
                if noDelay != 0 { $0.noDelay += 1 }
                if channel.parent?.eventLoop !== channel.eventLoop { $0.handedOver += 1 }
            }
        }
    }

    func testEveryLoopAcceptsOnOnePortAndConnectionsHaveNoDelay() async throws {
        let seen = NIOLockedValueBox(Accepted())
        let server = try await bind(into: seen)
        XCTAssertEqual(server.serverChannels.count, 2)
        XCTAssertEqual(Set(server.serverChannels.map { $0.localAddress?.port }), [server.port])
        // The kernel spreads connections over the listeners by a hash of the client's address and port:
        // 64 connections all on one of two listeners has a chance of 2^-63.
        var clients: [RawClient] = []
        for _ in 0..<64 { clients.append(try await RawClient.connect(port: server.port)) }
        try await waitUntil { seen.withLockedValue { $0.count } == 64 }
        let accepted = seen.withLockedValue { $0 }
        XCTAssertEqual(accepted.loops.count, 2, "both loops accept")
        XCTAssertEqual(accepted.noDelay, 64, "TCP_NODELAY is inherited from the listener")
        XCTAssertEqual(accepted.handedOver, 0, "each listener keeps its connections on its own loop")
        for client in clients { await client.close() }
        await server.shutdown()
    }

    func testASecondServerOnTheSamePortIsRefusedAndThePortIsFreeAfterShutdown() async throws {
        let seen = NIOLockedValueBox(Accepted())
        let first = try await bind(into: seen)
        do {
            let second = try await bind(port: first.port, into: seen)
            await second.shutdown()
            XCTFail("a second server shared port \(first.port)")
        } catch HTTPServerError.bindFailed(_, _, let reason) {
            // The system's words, not NIO's description of its error.
            XCTAssertEqual(reason, "address already in use")
        }
        let port = first.port
        await first.shutdown()
        let again = try await bind(port: port, into: seen)
        XCTAssertEqual(again.port, port)
        await again.shutdown()
    }

    func testAClaimPicksAFreePortAndNeverListens() throws {
        for host in ["127.0.0.1", "::1"] {
            guard let address = try? SocketAddress(ipAddress: host, port: 0) else { continue }
            let claimed: SocketAddress
            do { claimed = try claimPort(address) } catch { continue }  // no IPv6 on this host
            let port = try XCTUnwrap(claimed.port)
            XCTAssertNotEqual(port, 0, host)
            XCTAssertEqual(claimed.ipAddress, address.ipAddress)
            // Nothing listens there: a connect is refused rather than accepted and reset.
            XCTAssertThrowsError(try ClientBootstrap(group: group).connect(to: claimed).wait(), host)
        }
    }

    func testWhenOneListenerClosesTheServerStopsListeningOnAll() async throws {
        let server = try await bind(into: NIOLockedValueBox(Accepted()))
        try await server.serverChannels[1].close()
        await server.waitUntilClosed()
        for listener in server.serverChannels {
            XCTAssertFalse(listener.isActive)
        }
        await server.shutdown()
    }

    private func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else { return XCTFail("timed out") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
