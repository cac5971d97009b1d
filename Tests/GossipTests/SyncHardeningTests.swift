import Foundation
import Glibc
import Gossip
import GossipNIO
import Logging
import MeshCrypto
import Wire
import XCTest

/// Issue 9, finding 3: hostile state-sync connections. Real sockets on loopback; every wait has a deadline.
final class SyncHardeningTests: XCTestCase {
    let key = try! SigningKeyPair(seed: [UInt8](repeating: 21, count: 32))
    let ring = Keyring(primary: try! MeshKey(bytes: [UInt8](repeating: 5, count: 32)), meshName: "sync")

    func start(_ tune: (inout GossipTransportSettings) -> Void = { _ in }) async -> (GossipService, Task<Void, Error>, Int) {
        var transport = GossipTransportSettings(bindHost: "127.0.0.1", bindPort: 0, keyring: ring, syncTimeout: .seconds(5))
        tune(&transport)
        var logger = Logger(label: "sync")
        logger.logLevel = .critical
        let service = GossipService(settings: GossipSettings(profile: .fast), transport: transport,
                                    identity: MemberIdentity(name: "victim", cluster: "c0", generation: GossipService.freshGeneration()),
                                    signer: key, verifier: RecordVerifier(roster: TrustRoster(["c0": [key.publicKey]])), logger: logger)
        let task = Task { try await service.run() }
        return (service, task, await service.boundGossipPort())
    }

    /// A TCP connection from `host` to the service; -1 when it could not connect.
    func connect(from host: String = "127.0.0.1", port: Int) -> Int32 {
        let fd = LoopbackSockets.bound(SOCK_STREAM, host: host)
        guard fd >= 0, LoopbackSockets.connect(fd, to: "127.0.0.1", port) else { return -1 }
        // A send into a connection nobody reads must not hang the test.
        var tv = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    /// Waits up to `seconds` for the peer to close `fd` (EOF or reset); returns how long it took, nil if it held.
    func closedByPeer(_ fd: Int32, within seconds: Double) -> Double? {
        LoopbackSockets.setReceiveTimeout(fd, milliseconds: 50)
        let start = Date()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date().timeIntervalSince(start) < seconds {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) { return Date().timeIntervalSince(start) }
        }
        return nil
    }

    func send(_ fd: Int32, _ bytes: [UInt8]) { _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }

    func testAHugeLengthPrefixIsRefusedBeforeAnyOfItIsBuffered() async throws {
        let (_, task, port) = await start()
        defer { task.cancel() }
        let fd = connect(port: port)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        // Announce a 16 MiB frame, then trickle its bytes.
        send(fd, [0x01, 0x00, 0x00, 0x00])
        for _ in 0..<10 { send(fd, [UInt8](repeating: 0xAB, count: 100)) }
        let closed = closedByPeer(fd, within: 2)
        XCTAssertNotNil(closed, "the connection was held open")
        print("a 16 MiB length prefix: connection closed after \(closed.map { String(format: "%.3f", $0) } ?? "-") s")
    }

    func testAPeerThatSendsNothingOrHalfAHelloIsClosedAtTheHelloDeadline() async throws {
        let (_, task, port) = await start { $0.syncHelloTimeout = .milliseconds(300) }
        defer { task.cancel() }
        let silent = connect(port: port)
        let half = connect(port: port)
        defer { close(silent); close(half) }
        send(half, [0x00, 0x00, 0x00, 0x30, 0x02, 0x01])
        let a = closedByPeer(silent, within: 2)
        let b = closedByPeer(half, within: 2)
        XCTAssertNotNil(a, "a silent connection was held open")
        XCTAssertNotNil(b, "a trickling connection was held open")
        print("silent / half-hello sync connections closed after \(a.map { String(format: "%.2f", $0) } ?? "-") / \(b.map { String(format: "%.2f", $0) } ?? "-") s (hello deadline 0.3 s)")
    }

    func testAFrameThatDoesNotOpenEndsTheConnectionAndIsAnswered() async throws {
        let (service, task, port) = await start()
        defer { task.cancel() }
        let fd = connect(port: port)
        defer { close(fd) }
        let stranger = Keyring(primary: try MeshKey(bytes: [UInt8](repeating: 6, count: 32)), meshName: "sync")
        let hello = stranger.seal(Array("\u{1}zone-agent sync 2".utf8), sentAtMillis: GossipService.wallClockMillis())
        send(fd, withUnsafeBytes(of: UInt32(hello.count).bigEndian, Array.init) + hello)
        LoopbackSockets.setReceiveTimeout(fd, milliseconds: 2000)
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        XCTAssertGreaterThan(n, 4)
        XCTAssertEqual(String(decoding: buffer[4..<max(4, n)], as: UTF8.self), "ZA-SYNC-CANNOT-OPEN")
        XCTAssertNotNil(closedByPeer(fd, within: 2))
        let sources = await service.undecryptableSources()
        XCTAssertEqual(sources.first?.address.hostText, "127.0.0.1")
    }

    func testConnectionsBeyondTheBoundsAreRefused() async throws {
        let (service, task, port) = await start {
            $0.maxSyncConnections = 4
            $0.maxSyncConnectionsPerSource = 2
            $0.syncHelloTimeout = .seconds(30)
        }
        defer { task.cancel() }
        // Two from 127.0.0.1 are held; the third from it is refused.
        let held = [connect(from: "127.0.0.1", port: port), connect(from: "127.0.0.1", port: port)]
        defer { held.forEach { close($0) } }
        XCTAssertNil(closedByPeer(held[0], within: 0.3))
        let third = connect(from: "127.0.0.1", port: port)
        defer { close(third) }
        XCTAssertNotNil(closedByPeer(third, within: 2), "a third connection from one address was accepted")
        // Two more from other addresses fill the total; a fifth is refused even from a new address.
        let others = [connect(from: "127.0.0.2", port: port), connect(from: "127.0.0.3", port: port)]
        defer { others.forEach { close($0) } }
        XCTAssertNil(closedByPeer(others[1], within: 0.3))
        let fifth = connect(from: "127.0.0.4", port: port)
        defer { close(fifth) }
        XCTAssertNotNil(closedByPeer(fifth, within: 2), "a connection beyond the total was accepted")
        let refused = await service.currentCounters().dropped["sync_refused", default: 0]
        XCTAssertEqual(refused, 2)
        // Slots come back when connections close.
        close(held[0])
        var admitted = false
        let by = Date().addingTimeInterval(2)
        while !admitted, Date() < by {
            let again = connect(from: "127.0.0.5", port: port)
            admitted = closedByPeer(again, within: 0.2) == nil
            close(again)
        }
        XCTAssertTrue(admitted, "a freed slot was not given back")
    }

    /// A burst of connections and at once a stop: connections accepted but not yet served are closed, not left to
    /// trap (NIO traps on a dropped connection whose writer was never finished, apple/swift-nio#2813).
    func testStoppingWhileConnectionsWaitToBeServedClosesThemWithoutTrapping() async throws {
        for _ in 0..<5 {
            let (_, task, port) = await start()
            var fds: [Int32] = []
            for i in 0..<64 {
                let fd = connect(from: "127.0.\(1 + i / 50).\(1 + i % 50)", port: port)
                if fd >= 0 { fds.append(fd) }
            }
            task.cancel()
            _ = try? await task.value
            fds.forEach { close($0) }
        }
    }

    func testManyHostileConnectionsDoNotTakeMemory() async throws {
        let (_, task, port) = await start()
        defer { task.cancel() }
        let before = LoopbackSockets.residentMB()
        // 60 connections, as in the issue, each announcing 16 MiB and sending 1 MiB of it.
        var fds: [Int32] = []
        defer { fds.forEach { close($0) } }
        let junk = [UInt8](repeating: 0xCD, count: 1 << 20)
        for i in 0..<60 {
            let fd = connect(from: "127.0.\(1 + i / 50).\(1 + i % 50)", port: port)
            guard fd >= 0 else { continue }
            fds.append(fd)
            send(fd, [0x01, 0x00, 0x00, 0x00])
            send(fd, junk)
        }
        try await Task.sleep(for: .milliseconds(500))
        let during = LoopbackSockets.residentMB()
        print("60 hostile sync connections announcing 16 MiB each: RSS \(String(format: "%.0f", before)) → \(String(format: "%.0f", during)) MB")
        XCTAssertLessThan(during - before, 50, "hostile connections took memory")
    }
}
