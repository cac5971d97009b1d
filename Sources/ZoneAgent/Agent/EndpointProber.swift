import NIOCore
import NIOPosix

/// One active health check of one endpoint: a TCP connect, or an HTTP/1.1 GET whose status must match.
///
/// Each check opens a fresh connection, as load-balancer checks do, so that a check proves the endpoint accepts
/// new connections, not merely that an old one is still open.
struct EndpointProber: Sendable {
    enum Check: Sendable, Equatable {
        case tcp
        case http(path: String, expectStatus: Int)
    }

    let check: Check
    let timeout: Duration
    let group: any EventLoopGroup

    /// True when the endpoint passed the check within the timeout.
    func probe(host: String, port: Int) async -> Bool {
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(TimeAmount(timeout))
                .channelOption(.socketOption(.so_reuseaddr), value: 1)
                .connect(host: host, port: port)
                .get()
        } catch {
            return false
        }
        guard case .http(let path, let expectStatus) = check else {
            try? await channel.close()
            return true
        }
        let promise = channel.eventLoop.makePromise(of: Int?.self)
        let timeoutTask = channel.eventLoop.scheduleTask(deadline: deadline) { promise.succeed(nil) }
        do {
            // The handler is made on the channel's event loop: it is not Sendable and never leaves it.
            try await channel.eventLoop.submit {
                try channel.pipeline.syncOperations.addHandler(StatusLineReader(promise: promise))
            }.get()
            var request = ByteBuffer()
            request.writeString("GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nUser-Agent: zone-agent-probe\r\nConnection: close\r\n\r\n")
            try await channel.writeAndFlush(request).get()
        } catch {
            promise.succeed(nil)
        }
        let status = (try? await promise.futureResult.get()) ?? nil
        timeoutTask.cancel()
        try? await channel.close()
        return status == expectStatus
    }
}

/// Reads just the status line of an HTTP/1.x response ("HTTP/1.1 200 OK") and reports its code.
private final class StatusLineReader: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    private let promise: EventLoopPromise<Int?>
    private var received = ByteBuffer()

    init(promise: EventLoopPromise<Int?>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = unwrapInboundIn(data)
        received.writeBuffer(&chunk)
        let view = received.readableBytesView
        if let end = view.firstIndex(of: UInt8(ascii: "\n")) {
            let line = String(decoding: view[view.startIndex..<end], as: UTF8.self)
            let parts = line.split(separator: " ")
            promise.succeed(parts.count >= 2 && parts[0].hasPrefix("HTTP/1.") ? Int(parts[1]) : nil)
        } else if received.readableBytes > 4096 {
            promise.succeed(nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.succeed(nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.succeed(nil)
        context.close(promise: nil)
    }
}
