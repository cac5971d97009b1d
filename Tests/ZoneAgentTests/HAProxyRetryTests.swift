import Foundation
import Logging
import NIOCore
import NIOPosix
import XCTest

@testable import ZoneAgent

/// The HAProxy output through the retry loop, against a stand-in stats socket: while the socket is missing
/// (HAProxy restarting) the push fails and is retried; once it listens, the same table lands with no table change.
final class HAProxyRetryTests: XCTestCase {
    func testAPushToAMissingSocketIsRetriedUntilHAProxyListens() async throws {
        _ = ZoneMetrics.registry
        let dir = NSTemporaryDirectory() + "hap-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let socket = dir + "/admin.sock"
        let group = MultiThreadedEventLoopGroup.singleton
        let haproxy = HAProxyRuntimeOutput(socketPath: socket, backend: "web-demo", serverPrefix: "zone", service: nil, group: group)
        let sync = OutputSync(outputs: [TableOutput(name: "haproxy") { try await haproxy.apply($0) }],
                              backoff: OutputBackoff(initial: .milliseconds(5), maximum: .milliseconds(40)),
                              logger: Logger(label: "test"))
        let runner = Task { await sync.run() }
        defer { runner.cancel() }

        sync.submit(TableFixture.table(liveClusters: ["c1", "c2"]))
        try await wait("two failed pushes") { sync.progressNow.failures >= 2 }
        XCTAssertEqual(sync.progressNow.behind, 1)

        let received = StatsSocketLog()
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(FakeStatsSocket(log: received)) }
            }
            .bind(unixDomainSocketPath: socket, cleanupExistingSocketFile: true)
            .get()
        defer { server.close(promise: nil) }

        try await wait("the haproxy output caught up") { sync.progressNow.behind == 0 }
        let commands = received.lines.joined(separator: "; ")
        XCTAssertTrue(commands.contains("set server web-demo/zone3 addr 127.0.0.21 port 8080"), commands)
        XCTAssertTrue(commands.contains("set server web-demo/zone4 weight 256"), commands)
    }

    func wait(_ what: String, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else { return XCTFail("timed out waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}

/// The lines a stand-in stats socket received.
final class StatsSocketLog: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    var lines: [String] { lock.withLock { stored } }
    func append(_ line: String) { lock.withLock { stored.append(line) } }
}

/// Answers one line as HAProxy's stats socket does, then closes: four `zone` slots for `show servers state`,
/// silence (success) for `set server` commands.
private final class FakeStatsSocket: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let log: StatsSocketLog
    var buffer = ""

    init(log: StatsSocketLog) { self.log = log }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        buffer += String(buffer: unwrapInboundIn(data))
        guard let end = buffer.firstIndex(of: "\n") else { return }
        let line = String(buffer[..<end])
        log.append(line)
        var answer = ""
        if line.hasPrefix("show servers state") {
            answer = "1\n# be_id be_name srv_id srv_name srv_addr\n" + (1...4).map { "3 web-demo \($0) zone\($0) 0.0.0.0 0 0 1 1" }.joined(separator: "\n") + "\n"
        }
        // Written, then closed: the channel keeps the order, as HAProxy answers a line and hangs up.
        context.write(wrapOutboundOut(ByteBuffer(string: answer)), promise: nil)
        context.flush()
        context.close(promise: nil)
    }
}
