// What a connection accepted over the small server's connection limit gets: a fixed 503 and a close.
import Logging
import NIOCore
import Synchronization

/// Answers `503 Service Unavailable` on a connection over the limit, without parsing anything, then closes it.
///
/// The answer goes out as soon as the connection is active; its output is then closed and whatever the client
/// sent is read and dropped until it closes too, at most ``lingerTime``: closing with its request unread would
/// make the kernel send a reset, and a client may then lose the 503 before reading it.
final class OverLimitResponder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// How long an over-limit connection may linger for its client to read the 503. Default 1 s: a loopback or
    /// in-zone client reads it within milliseconds, and a flood of connections then holds few descriptors.
    static let lingerTime = TimeAmount.seconds(1)

    private static let answer: String = {
        let body = "too many connections; retry in a moment\n"
        return "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
            + "content-length: \(body.utf8.count)\r\nconnection: close\r\nretry-after: 1\r\n\r\n" + body
    }()

    private var answered = false

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { answer(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        answer(context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func answer(context: ChannelHandlerContext) {
        guard !answered else { return }
        answered = true
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: Self.answer))).assumeIsolated().whenComplete { _ in
            // Not every channel can half-close; then the full close below is all there is.
            context.close(mode: .output, promise: nil)
        }
        channel.eventLoop.scheduleTask(in: Self.lingerTime) { channel.close(promise: nil) }
    }
}

/// Lets a repeated warning through at most once per interval, counting the ones it held back.
final class RateLimitedWarning: Sendable {
    private let interval: Duration
    private let state = Mutex<(last: ContinuousClock.Instant?, held: Int)>((nil, 0))

    init(interval: Duration) {
        self.interval = interval
    }

    /// Returns how many occurrences the line to log now stands for (this one and those held back), or nil when
    /// the line should be held back.
    func occurred(now: ContinuousClock.Instant = .now) -> Int? {
        state.withLock { state in
            state.held += 1
            if let last = state.last, now - last < interval { return nil }
            state.last = now
            defer { state.held = 0 }
            return state.held
        }
    }
}
