@testable import GatewayHTTP
import NIOCore
import NIOPosix
import XCTest

/// `ConnectionAcceptor`: each accepted connection is admitted, set up and started in the listener's read, and one
/// that is refused or fails its set-up is closed without being served, while the listener goes on.
final class ConnectionAcceptorTests: XCTestCase {
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)

    override func tearDown() async throws {
        try await group.shutdownGracefully()
    }

    private struct SetUpFailed: Error {}

    /// Greets on activation and echoes what it reads: proof the connection went active and reads started.
    private final class Greeter: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        func channelActive(context: ChannelHandlerContext) {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "hello\n")), promise: nil)
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            context.writeAndFlush(data, promise: nil)
        }
    }

    /// A server whose set-up greets, except for the connections numbered in `failing` (from 1), whose set-up throws.
    private func serve(tracker: ConnectionTracker, failing: Set<Int> = []) async throws -> (BoundServer, Locked<Int>) {
        let setUps = Locked(0)
        let server = try await bindServer(host: "127.0.0.1", port: 0, group: group, tracker: tracker) { channel in
            let number = setUps.withLock { count -> Int in
                count += 1
                return count
            }
            if failing.contains(number) { throw SetUpFailed() }
            try channel.pipeline.syncOperations.addHandler(Greeter())
        }
        return (server, setUps)
    }

    func testAnAdmittedConnectionIsActiveAndReads() async throws {
        let (server, _) = try await serve(tracker: ConnectionTracker())
        let client = try await RawClient.connect(port: server.port)
        _ = try await client.waitFor("hello\n")
        try await client.send("ping")
        _ = try await client.waitFor("hello\nping")
        await client.close()
        await server.shutdown()
    }

    /// Connections skip NIO's accept handler by being fired on from its context, found by the name `ServerBootstrap`
    /// gives it. Should NIO rename it they would pass through it again: still served, but slower.
    func testNIOsAcceptHandlerIsFoundByItsName() async throws {
        let (server, _) = try await serve(tracker: ConnectionTracker())
        for listener in server.serverChannels {
            let found = try await listener.eventLoop.submit {
                (try? listener.pipeline.syncOperations.context(name: "AcceptHandler")) != nil
            }.get()
            XCTAssertTrue(found, "NIO's accept handler is no longer called AcceptHandler")
        }
        await server.shutdown()
    }

    func testAConnectionWhoseSetUpFailsIsClosedAndTheNextIsServed() async throws {
        let (server, setUps) = try await serve(tracker: ConnectionTracker(), failing: [1])
        let first = try await RawClient.connect(port: server.port)
        let received = try await first.waitForClose()
        XCTAssertEqual(received, "", "a connection whose set-up failed is never served")
        let second = try await RawClient.connect(port: server.port)
        _ = try await second.waitFor("hello\n")
        XCTAssertEqual(setUps.withLock { $0 }, 2)
        await second.close()
        await server.shutdown()
    }

    func testOverTheLimitWithNoWayToAnswerTheConnectionIsClosedUnserved() async throws {
        let (server, setUps) = try await serve(tracker: ConnectionTracker(limit: 1))
        let admitted = try await RawClient.connect(port: server.port)
        _ = try await admitted.waitFor("hello\n")
        let refused = try await RawClient.connect(port: server.port)
        let received = try await refused.waitForClose()
        XCTAssertEqual(received, "")
        XCTAssertEqual(setUps.withLock { $0 }, 1, "a refused connection is not set up")
        // The admitted one is untouched.
        try await admitted.send("still here")
        _ = try await admitted.waitFor("still here")
        await admitted.close()
        await server.shutdown()
    }

    func testAConnectionAcceptedAfterShutdownBeganIsClosedUnserved() async throws {
        let tracker = ConnectionTracker()
        let (server, setUps) = try await serve(tracker: tracker)
        await tracker.quiesce(gracePeriod: .zero)  // shutdown begins; the listeners are still open
        let late = try await RawClient.connect(port: server.port)
        let received = try await late.waitForClose()
        XCTAssertEqual(received, "")
        XCTAssertEqual(setUps.withLock { $0 }, 0)
        await server.shutdown()
    }
}
