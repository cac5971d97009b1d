// The bound on the proxy's client connections: past it, a connection gets 503 and is closed, and a
// rate-limited log line says so, long before the process runs out of file descriptors (which would
// starve every request, the admin API's `/healthz` included, with nothing logged).
import Atomics
import Logging
import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Counts the proxy's open client connections against a maximum; shared by every event loop.
final class ConnectionLimit: Sendable {
    /// The most client connections served at once.
    let maximum: Int
    private let open = ManagedAtomic(0)
    private let answering = ManagedAtomic(0)
    private let shedSinceLog = ManagedAtomic(0)
    private let nextLogAt = ManagedAtomic<UInt64>(0)
    private let logInterval: TimeAmount
    private let log: @Sendable (_ shed: Int, _ maximum: Int) -> Void

    /// - Parameter log: writes the rate-limited line: how many connections were shed since the last one.
    init(maximum: Int, logInterval: TimeAmount = .seconds(10), log: @escaping @Sendable (_ shed: Int, _ maximum: Int) -> Void) {
        self.maximum = max(1, maximum)
        self.logInterval = logInterval
        self.log = log
    }

    /// A limit that logs to `logger`.
    convenience init(maximum: Int, logger: Logger) {
        self.init(maximum: maximum) { shed, maximum in
            logger.warning("proxy connection limit reached: new connections are answered 503 and closed", metadata: [
                "shed": "\(shed)", "limit": "\(maximum)", "setting": "proxy.maxConnections", "logged": "at most every 10s",
            ])
        }
    }

    /// Takes a place for a new connection; false when the proxy is full (the connection is then shed).
    func admit() -> Bool {
        if open.loadThenWrappingIncrement(ordering: .relaxed) < maximum { return true }
        open.wrappingDecrement(ordering: .relaxed)
        return false
    }

    /// Gives back the place of a connection that closed.
    func release() {
        open.wrappingDecrement(ordering: .relaxed)
    }

    /// The client connections open now.
    var openConnections: Int { open.load(ordering: .relaxed) }

    /// At least 90% of the places are taken: idle keep-alive connections then get the shorter request
    /// head timeout instead of the idle timeout, to make room (Envoy's overload manager `reduce_timeouts`).
    var underPressure: Bool { open.load(ordering: .relaxed) * 10 >= maximum * 9 }

    /// The most shed connections that may be open at once while they get their 503: half the reserve,
    /// so a flood of connections over the limit cannot use up the descriptors the limit keeps free.
    static let maxShedAnswering = reservedDescriptors / 2

    /// Takes a place to answer a shed connection; false when as many are being answered already
    /// (the connection is then closed without an answer).
    func beginShedAnswer() -> Bool {
        if answering.loadThenWrappingIncrement(ordering: .relaxed) < Self.maxShedAnswering { return true }
        answering.wrappingDecrement(ordering: .relaxed)
        return false
    }

    /// Gives back the place of a shed connection that closed.
    func endShedAnswer() {
        answering.wrappingDecrement(ordering: .relaxed)
    }

    /// Counts a shed connection; logs at most one line per interval, with the count since the last line.
    func shed() {
        shedSinceLog.wrappingIncrement(ordering: .relaxed)
        let now = NIODeadline.now().uptimeNanoseconds
        let next = nextLogAt.load(ordering: .relaxed)
        guard now >= next,
              nextLogAt.compareExchange(expected: next, desired: now + UInt64(logInterval.nanoseconds), ordering: .relaxed).exchanged
        else { return }
        log(shedSinceLog.exchange(0, ordering: .relaxed), maximum)
    }

    // MARK: The default

    /// Descriptors kept for everything but the proxy's own connections: the admin API and its clients,
    /// gossip (UDP and the state-sync TCP connections), the Kubernetes watch, the Envoy and HAProxy
    /// outputs, files and the listening sockets; a few dozen in use, with room for connections being
    /// accepted and shed.
    static let reservedDescriptors = 128

    /// The default maximum for a descriptor limit: `max(16, (RLIMIT_NOFILE − 128) / 3)`.
    ///
    /// Each client connection may use three descriptors: its own, the upstream connection its
    /// request is on, and one idle pooled upstream connection (the pools keep at most the maximum's
    /// worth of idle connections in all), so the proxy's descriptors stay under the limit with
    /// ``reservedDescriptors`` to spare. 1,024 descriptors give 298 connections, 65,536 give 21,802.
    static func defaultMaximum(descriptorLimit: Int) -> Int {
        max(16, min(descriptorLimit - reservedDescriptors, 1 << 30) / 3)
    }

    /// The process's soft limit on open descriptors (`RLIMIT_NOFILE`); 1,024 if it cannot be read.
    static func descriptorLimit() -> Int {
        var limit = rlimit()
        #if canImport(Glibc)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0 else { return 1024 }
        // RLIM_INFINITY is the largest value: it lands here too.
        if limit.rlim_cur > rlim_t(Int32.max) { return Int(Int32.max) }
        return Int(limit.rlim_cur)
    }
}

/// The whole pipeline of a connection over the limit: reads the request's first bytes (so closing
/// does not reset the connection under the answer), answers 503 and closes. A client that sends
/// nothing gets the answer after 100 ms; at most ``ConnectionLimit/maxShedAnswering`` shed connections
/// are open at once, and one more is closed without a word, so shedding never holds many descriptors.
final class OverloadAnswerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private static let body = "the proxy is at its connection limit; retry\n"
    private static let answer = "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
        + "content-length: \(body.utf8.count)\r\nretry-after: 1\r\nconnection: close\r\n\r\n" + body

    private let limit: ConnectionLimit
    private var counted = false
    private var answered = false

    init(limit: ConnectionLimit) {
        self.limit = limit
    }

    func channelActive(context: ChannelHandlerContext) {
        guard limit.beginShedAnswer() else {
            context.close(promise: nil)
            return
        }
        counted = true
        context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(100)) { self.answer(context: context) }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // The request is not served; once some of it is read, the answer can go.
        answer(context: context)
    }

    private func answer(context: ChannelHandlerContext) {
        guard !answered else { return }
        answered = true
        let out = context.channel.allocator.buffer(string: Self.answer)
        context.writeAndFlush(wrapOutboundOut(out)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if counted {
            counted = false
            limit.endShedAnswer()
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
