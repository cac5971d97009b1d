// The small HTTP server's front handler: it tells the request handler when the bytes of a new request start to
// arrive (so a partial head gets the head deadline, not the idle one) and holds back read() while the request
// handler says its answers are not being read.
import NIOCore

/// Sits first in a server connection's pipeline, before NIO's HTTP decoder.
///
/// The request handler behind the decoder sees only whole heads, so it cannot tell an idle keep-alive connection
/// from one trickling a head; this handler can, and says so with ``RequestBytesArrived`` once it is asked to
/// watch (``Command/watchForRequestBytes``). It also owns the connection's read gate: while paused, read() calls
/// are held here, so the kernel's receive buffer, and then the client's send window, fill instead of our memory.
final class ConnectionGate: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    /// What the request handler asks of the gate, sent as an outbound user event.
    enum Command {
        /// Fire ``RequestBytesArrived`` on the next bytes read.
        case watchForRequestBytes
        /// Hold read() calls until ``resumeReading``.
        case pauseReading
        /// Let read() through again, issuing one that was held.
        case resumeReading
    }

    /// Fired inbound, before the bytes themselves, when watched-for bytes arrive.
    struct RequestBytesArrived {}

    private var watching = false
    private var reads = ReadHold()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if watching {
            watching = false
            context.fireUserInboundEventTriggered(RequestBytesArrived())
        }
        context.fireChannelRead(data)
    }

    func read(context: ChannelHandlerContext) {
        if reads.admit() { context.read() }
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let command = event as? Command else {
            return context.triggerUserOutboundEvent(event, promise: promise)
        }
        switch command {
        case .watchForRequestBytes:
            watching = true
        case .pauseReading:
            _ = reads.hold(true)
        case .resumeReading:
            if reads.hold(false) { context.read() }
        }
        promise?.succeed()
    }
}
