// An interactive raw-socket client: send bytes when the test says, wait for given bytes or for the
// server to close, each with an upper bound that only a failing test reaches.
import NIOCore
import NIOPosix
import XCTest

enum RawClientError: Error {
    case timedOut(waitingFor: String, received: String)
}

/// Everything a raw client has received, and who waits for what; touched only on the channel's loop.
private final class RawReceiver: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    var text = ""
    var closed = false
    var waiters: [(needle: String, promise: EventLoopPromise<String>)] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        text += String(buffer: unwrapInboundIn(data))
        settle()
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        settle()
        context.fireChannelInactive()
    }

    func settle() {
        waiters.removeAll { waiter in
            if text.range(of: waiter.needle) != nil {
                waiter.promise.succeed(text)
                return true
            }
            if closed {
                waiter.promise.fail(RawClientError.timedOut(waitingFor: waiter.needle, received: text + " [closed]"))
                return true
            }
            return false
        }
    }
}

/// A client connection that writes raw bytes and reads raw bytes.
final class RawClient: Sendable {
    let channel: any Channel
    private let receiver: NIOLoopBound<RawReceiver>

    private init(channel: any Channel, receiver: NIOLoopBound<RawReceiver>) {
        self.channel = channel
        self.receiver = receiver
    }

    static func connect(port: Int) async throws -> RawClient {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let receiver = try await loop.submit { NIOLoopBound(RawReceiver(), eventLoop: loop) }.get()
        let channel = try await ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(receiver.value)
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawClient(channel: channel, receiver: receiver)
    }

    func send(_ text: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(string: text))
    }

    /// Everything received so far, once it contains `needle`.
    func waitFor(_ needle: String, timeout: TimeAmount = .seconds(5)) async throws -> String {
        let loop = channel.eventLoop
        let receiver = self.receiver
        let promise = loop.makePromise(of: String.self)
        loop.execute {
            receiver.value.waiters.append((needle, promise))
            receiver.value.settle()
        }
        let timer = loop.scheduleTask(in: timeout) {
            receiver.value.waiters.removeAll { $0.promise.futureResult === promise.futureResult }
            promise.fail(RawClientError.timedOut(waitingFor: needle, received: receiver.value.text))
        }
        defer { timer.cancel() }
        return try await promise.futureResult.get()
    }

    /// Waits until the server closes the connection and returns everything received; fails after `timeout`.
    func waitForClose(timeout: TimeAmount = .seconds(5)) async throws -> String {
        let loop = channel.eventLoop
        let receiver = self.receiver
        let timedOut = Locked(false)
        let channel = self.channel
        let timer = loop.scheduleTask(in: timeout) {
            timedOut.withLock { $0 = true }
            channel.close(promise: nil)
        }
        try? await channel.closeFuture.get()
        timer.cancel()
        let text = try await loop.submit { receiver.value.text }.get()
        if timedOut.withLock({ $0 }) { throw RawClientError.timedOut(waitingFor: "the server to close", received: text) }
        return text
    }

    func close() async {
        try? await channel.close()
    }
}
