// The server connection's deadlines on an EmbeddedChannel, with time moved by hand: each fires exactly at its
// deadline and not a tick before, and a state change re-arms the right one.
import NIOCore
import NIOEmbedded
import NIOHTTP1
import XCTest

@testable import GatewayHTTP

final class HTTPServerDeadlineTests: XCTestCase {
    private let configuration = HTTPServer.Configuration(
        port: 0, idleTimeout: .seconds(60), requestHeadTimeout: .seconds(10), requestBodyTimeout: .seconds(5),
        responseWriteTimeout: .seconds(30))

    /// A server connection as HTTPServer builds it, answering `ok` at once, on an embedded loop.
    private func connection() throws -> (EmbeddedChannel, HTTPServerStats) {
        let stats = HTTPServerStats()
        let channel = EmbeddedChannel()
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(ConnectionGate())
        try sync.configureHTTPServerPipeline(withErrorHandling: true)
        try sync.addHandler(HTTPServerRequestHandler(
            responder: .immediate { _ in HTTPServerResponse(status: .ok, text: "ok") },
            limits: .init(configuration), stats: stats))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return (channel, stats)
    }

    private func send(_ channel: EmbeddedChannel, _ text: String) throws {
        try channel.writeInbound(ByteBuffer(string: text))
    }

    func testIdleDeadlineFiresAtSixtySecondsAndARequestRestartsIt() throws {
        let (channel, stats) = try connection()
        channel.embeddedEventLoop.advanceTime(by: .seconds(59))
        XCTAssertTrue(channel.isActive)
        try send(channel, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertNotNil(try channel.readOutbound(as: ByteBuffer.self), "answered")
        channel.embeddedEventLoop.advanceTime(by: .seconds(59))
        XCTAssertTrue(channel.isActive, "the answer started a fresh idle period")
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        XCTAssertFalse(channel.isActive)
        XCTAssertEqual(stats.idleTimeouts, 1)
        XCTAssertEqual(stats.requests, 1)
    }

    func testHeadDeadlineRunsFromTheFirstByteOfTheHead() throws {
        let (channel, stats) = try connection()
        channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        try send(channel, "GET / HTTP/1.1\r\n")
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        try send(channel, "Host: x\r\n")
        XCTAssertTrue(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        XCTAssertFalse(channel.isActive, "ten seconds after the head's first byte, however it trickles")
        XCTAssertEqual(stats.headTimeouts, 1)
        XCTAssertEqual(stats.requests, 0)
    }

    func testBodyDeadlineIsReArmedByEveryChunk() throws {
        let (channel, stats) = try connection()
        try send(channel, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
        for _ in 0..<3 {
            channel.embeddedEventLoop.advanceTime(by: .seconds(4))
            try send(channel, "ab")
        }
        XCTAssertTrue(channel.isActive, "twelve seconds in, but never five without a byte")
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(4999))
        XCTAssertTrue(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        XCTAssertFalse(channel.isActive)
        XCTAssertEqual(stats.bodyTimeouts, 1)
    }
}
