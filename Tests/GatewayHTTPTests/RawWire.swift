// Byte-level peers for cases the NIO codecs would not produce: scripted upstream answers and raw client bytes.
import NIOCore
import NIOPosix

/// Answers each request head it reads with the bytes `script` gives for its path, closing when told to.
private final class ScriptedUpstreamHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let script: @Sendable (String) -> (bytes: String, close: Bool)
    private var received = ""

    init(script: @escaping @Sendable (String) -> (bytes: String, close: Bool)) {
        self.script = script
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received += String(buffer: unwrapInboundIn(data))
        while let end = received.range(of: "\r\n\r\n") {
            let head = String(received[..<end.lowerBound])
            received = String(received[end.upperBound...])
            let path = head.split(separator: " ").dropFirst().first.map(String.init) ?? "/"
            let answer = script(path)
            let written = context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: answer.bytes)))
            if answer.close {
                written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
                return
            }
        }
    }
}

extension String {
    func range(of needle: String) -> Range<String.Index>? {
        var index = startIndex
        while index < endIndex {
            if self[index...].hasPrefix(needle) { return index..<self.index(index, offsetBy: needle.count) }
            index = self.index(after: index)
        }
        return nil
    }
}

/// A listening upstream whose answers are scripted bytes; returns its server channel.
func startScriptedUpstream(_ script: @escaping @Sendable (String) -> (bytes: String, close: Bool)) async throws -> any Channel {
    try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(ScriptedUpstreamHandler(script: script))
            }
        }
        .bind(host: "127.0.0.1", port: 0).get()
}

/// Collects everything a peer sends until it closes.
private final class CollectHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let done: EventLoopPromise<String>
    private var text = ""

    init(done: EventLoopPromise<String>) {
        self.done = done
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        text += String(buffer: unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.succeed(text)
    }
}

/// Sends `request` as raw bytes and returns all the bytes the server sends back until it closes.
func rawExchange(port: Int, _ request: String, timeout: TimeAmount = .seconds(5)) async throws -> String {
    let loop = MultiThreadedEventLoopGroup.singleton.next()
    let done = loop.makePromise(of: String.self)
    let channel = try await ClientBootstrap(group: loop)
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(CollectHandler(done: done))
            }
        }
        .connect(host: "127.0.0.1", port: port).get()
    let timer = loop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    try await channel.writeAndFlush(ByteBuffer(string: request))
    let text = try await done.futureResult.get()
    timer.cancel()
    return text
}
