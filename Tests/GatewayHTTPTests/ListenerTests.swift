#if canImport(Glibc)
import Glibc
#endif
@testable import GatewayHTTP
import Foundation
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
        } catch HTTPServerError.bindFailed {}
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

    func testTheKernelsTableOfListeningSocketsIsReadAsTheKernelWritesIt() throws {
        let v4 = try XCTUnwrap(PortSharing.kernelText(try SocketAddress(ipAddress: "127.0.0.1", port: 8001)))
        XCTAssertEqual(v4.address, "0100007F")
        XCTAssertEqual(v4.port, "1F41")
        let v6 = try XCTUnwrap(PortSharing.kernelText(try SocketAddress(ipAddress: "::1", port: 80)))
        XCTAssertEqual(v6.address, "00000000000000000000000001000000")
        XCTAssertEqual(v6.port, "0050")
        let table = """
              sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 0100007F:1F41 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 101 1
               1: 0100007F:1F41 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 102 1
               2: 00000000:1F41 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 103 1
               3: 0200007F:1F41 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 104 1
               4: 0100007F:1F42 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 105 1
               5: 0100007F:1F41 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 106 1
               6: 0100007F:1F41 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 101 1
            """
        // Ours twice and the wildcard; not another address, another port, or a connection; and a socket the kernel
        // wrote twice (its table is walked again at each read) once.
        XCTAssertEqual(PortSharing.listeners(in: table[...], at: v4), 3)
        // Listening on the wildcard, every address's listener on the port reaches ours.
        XCTAssertEqual(PortSharing.listeners(in: table[...], at: ("00000000", "1F41")), 4)
        XCTAssertEqual(PortSharing.listeners(in: "", at: v4), 0)
        XCTAssertEqual(PortSharing.listeners(in: "heading only\n 0: garbage", at: v4), 0)
    }

    func testATableOfMegabytesIsReadALineAtATimeAndEveryLineArrivesWhole() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tcp-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        // Lines of varying length, so that they straddle the reads' block boundaries at every offset.
        let lines = (0..<20_000).map { "\($0): " + String(repeating: "x", count: $0 % 300) }
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        var seen: [Substring] = []
        try PortSharing.forEachLine(of: path) { seen.append($0) }
        XCTAssertEqual(seen.count, lines.count)
        XCTAssertTrue(zip(seen, lines).allSatisfy { $0 == $1 })
        XCTAssertThrowsError(try PortSharing.forEachLine(of: path + "-missing") { _ in })
    }

    func testASocketOfAnotherServerListeningOnTheSharedPortIsSeen() async throws {
        let server = try await bind(into: NIOLockedValueBox(Accepted()))
        let local = try XCTUnwrap(server.serverChannels.first?.localAddress)
        XCTAssertEqual(PortSharing.listeners(at: local), 2, "one listener per loop")
        // What a second server racing for the port leaves there: a listener beside ours, as SO_REUSEPORT lets it.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        var one: Int32 = 1
        for option in [SO_REUSEADDR, SO_REUSEPORT] {
            XCTAssertEqual(setsockopt(fd, SOL_SOCKET, option, &one, socklen_t(MemoryLayout<Int32>.size)), 0)
        }
        XCTAssertEqual(local.withSockAddr { Glibc.bind(fd, $0, socklen_t($1)) }, 0)
        XCTAssertEqual(Glibc.listen(fd, 8), 0)
        XCTAssertEqual(PortSharing.listeners(at: local), 3)
        XCTAssertTrue(PortSharing.sharedReason(1).hasPrefix("another socket listens on this port too"))
        await server.shutdown()
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
