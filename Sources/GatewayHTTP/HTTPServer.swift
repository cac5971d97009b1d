// The small reusable HTTP/1.1 server behind the admin API and the demo backends.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// A complete HTTP request as the small server hands it to a handler.
public struct HTTPServerRequest: Sendable {
    /// The request method.
    public var method: HTTPMethod
    /// The request target exactly as sent, query included.
    public var uri: String
    /// The request headers.
    public var headers: HTTPHeaders
    /// The whole request body (bounded by ``HTTPServer/Configuration/maxRequestBodySize``).
    public var body: ByteBuffer
    /// The peer's address, when the socket knows it.
    public var remoteAddress: SocketAddress?

    /// Creates a request; the server does this, tests may too.
    public init(method: HTTPMethod, uri: String, headers: HTTPHeaders = [:], body: ByteBuffer = ByteBuffer(), remoteAddress: SocketAddress? = nil) {
        self.method = method
        self.uri = uri
        self.headers = headers
        self.body = body
        self.remoteAddress = remoteAddress
    }

    /// The path part of ``uri``: everything before `?`.
    public var path: Substring {
        uri.firstIndex(of: "?").map { uri[..<$0] } ?? uri[...]
    }

    /// The query part of ``uri`` after `?`, or nil when there is none.
    public var query: Substring? {
        uri.firstIndex(of: "?").map { uri[uri.index(after: $0)...] }
    }
}

/// A complete HTTP response a handler returns to the small server.
public struct HTTPServerResponse: Sendable {
    /// The status line's status.
    public var status: HTTPResponseStatus
    /// Response headers; the server sets `content-length` and `connection` itself.
    public var headers: HTTPHeaders
    /// The whole response body.
    public var body: ByteBuffer

    /// Creates a response from its parts.
    public init(status: HTTPResponseStatus, headers: HTTPHeaders = [:], body: ByteBuffer = ByteBuffer()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// Creates a response whose body is `text` in UTF-8 with the given content type.
    public init(status: HTTPResponseStatus, text: String, contentType: String = "text/plain; charset=utf-8") {
        self.init(status: status, headers: ["content-type": contentType], body: ByteBuffer(string: text))
    }
}

/// Why the small server could not start.
public enum HTTPServerError: Error, CustomStringConvertible, Sendable {
    /// The listening socket could not be bound, typically because the address is in use or not local.
    case bindFailed(host: String, port: Int, reason: String)

    /// A sentence naming the address and what to do about it.
    public var description: String {
        switch self {
        case let .bindFailed(host, port, reason):
            return "cannot listen on \(host):\(port): \(reason); pick a free port or a local address"
        }
    }
}

/// A small HTTP/1.1 server with keep-alive that answers each complete request through a handler.
///
/// Bodies are collected whole up to ``Configuration/maxRequestBodySize``; a larger body gets 413
/// and the connection closes. Pipelined requests are answered in order, one at a time, and the next is taken
/// only once the socket has taken the previous answer: a client that pipelines without reading its answers
/// stops being read, so it holds at most one read's worth of requests (``maxBytesPerRead``), the channel's
/// write buffer (64 KiB by NIO's default high watermark) and one answer, however much it sends. Every state of
/// a connection has a deadline (idle keep-alive, request head, body progress, answer write), and at most
/// ``Configuration/maxConnections`` are open at once; one over gets a 503 and is closed.
public final class HTTPServer: Sendable {
    /// An asynchronous request handler.
    public typealias Handler = @Sendable (HTTPServerRequest) async -> HTTPServerResponse
    /// A handler that answers without suspending; it runs on the connection's event loop, so it must be quick.
    public typealias ImmediateHandler = @Sendable (HTTPServerRequest) -> HTTPServerResponse

    /// Where and how the server listens.
    public struct Configuration: Sendable {
        /// The address to bind: `127.0.0.1` for loopback, `0.0.0.0` or `::` for every interface.
        public var host: String
        /// The port to bind; 0 lets the kernel pick one (read it from ``BoundServer/port``).
        public var port: Int
        /// The largest request body accepted; larger ones get 413. Default 1 MiB: admin requests are tiny.
        public var maxRequestBodySize: Int
        /// How long a keep-alive connection may wait for the first byte of its next request before it is closed.
        /// Default 60 s: longer than the built-in proxy keeps an idle pooled connection (50 s), so a demo backend
        /// never closes one the proxy is about to reuse; Prometheus and kubelet reconnect at no cost.
        public var idleTimeout: Duration
        /// How long a request head may take from its first byte to its end. Default 10 s, HAProxy's usual
        /// `timeout http-request`: a real client sends a head in one packet; only a slowloris takes longer.
        public var requestHeadTimeout: Duration
        /// How long a request body may go without a byte before the connection is closed. Default 10 s, the same
        /// reasoning as the head: bodies here are small (``maxRequestBodySize``), so a pause is a stall.
        public var requestBodyTimeout: Duration
        /// How long an answer may wait for the client to read it before the connection is closed. Default 30 s:
        /// a large `/v1/table` over a slow link still gets through; a client that never reads does not hold on.
        public var responseWriteTimeout: Duration
        /// The most connections open at once; one more is answered 503 and closed, with a warning at most every
        /// 10 s. Default 128: an admin API has a handful of clients (kubelet, Prometheus, an operator), and 128
        /// descriptors are a small share of any process limit.
        public var maxConnections: Int

        /// Creates a configuration; every default is documented on its property.
        public init(
            host: String = "127.0.0.1",
            port: Int,
            maxRequestBodySize: Int = 1 << 20,
            idleTimeout: Duration = .seconds(60),
            requestHeadTimeout: Duration = .seconds(10),
            requestBodyTimeout: Duration = .seconds(10),
            responseWriteTimeout: Duration = .seconds(30),
            maxConnections: Int = 128
        ) {
            self.host = host
            self.port = port
            self.maxRequestBodySize = maxRequestBodySize
            self.idleTimeout = idleTimeout
            self.requestHeadTimeout = requestHeadTimeout
            self.requestBodyTimeout = requestBodyTimeout
            self.responseWriteTimeout = responseWriteTimeout
            self.maxConnections = maxConnections
        }
    }

    /// The most bytes one read takes from a connection. 16 KiB: far more than an admin or demo request, and
    /// small enough that what NIO decodes from one read of pipelined requests (held by its pipeline handler
    /// while the previous answer is pending) stays small per connection.
    public static let maxBytesPerRead = 16 << 10

    enum Responder: Sendable {
        case async(Handler)
        case immediate(ImmediateHandler)
    }

    /// The configuration the server was created with.
    public let configuration: Configuration
    /// What the server has done: requests, deadlines passed, backpressure, connections refused.
    public let stats = HTTPServerStats()
    private let responder: Responder
    private let group: any EventLoopGroup
    private let logger: Logger

    /// Creates a server that answers with an asynchronous handler.
    public init(
        configuration: Configuration,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "zone-agent.http"),
        handler: @escaping Handler
    ) {
        self.configuration = configuration
        self.responder = .async(handler)
        self.group = group
        self.logger = logger
    }

    /// Creates a server whose handler answers on the event loop without a task hop (the fast path
    /// for fixed answers such as the demo backend's).
    public init(
        configuration: Configuration,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "zone-agent.http"),
        immediateHandler: @escaping ImmediateHandler
    ) {
        self.configuration = configuration
        self.responder = .immediate(immediateHandler)
        self.group = group
        self.logger = logger
    }

    /// Binds the listening socket and starts accepting; the returned server shuts down on request.
    public func start() async throws -> BoundServer {
        let responder = self.responder
        let limits = HTTPServerRequestHandler.Limits(configuration)
        let stats = self.stats
        let logger = self.logger
        let maxConnections = configuration.maxConnections
        let warning = RateLimitedWarning(interval: .seconds(10))
        let tracker = ConnectionTracker(limit: maxConnections)
        let bound = try await bindServer(
            host: configuration.host, port: configuration.port, group: group, tracker: tracker,
            refuse: { channel in
                stats.refused()
                if let count = warning.occurred() {
                    logger.warning("connection limit reached: answered 503 and closed", metadata: [
                        "limit": "\(maxConnections)", "refused": "\(count)", "peer": "\(channel.remoteAddress.map { "\($0)" } ?? "?")",
                    ])
                }
                try channel.pipeline.syncOperations.addHandler(OverLimitResponder())
            }
        ) { channel in
            try channel.syncOptions?.setOption(.maxMessagesPerRead, value: 1)
            try channel.syncOptions?.setOption(
                .recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: Self.maxBytesPerRead))
            let sync = channel.pipeline.syncOperations
            try sync.addHandler(ConnectionGate())
            try sync.configureHTTPServerPipeline(withErrorHandling: true)
            try sync.addHandler(HTTPServerRequestHandler(responder: responder, limits: limits, stats: stats))
        }
        logger.debug("http server listening", metadata: ["address": "\(bound.localAddress)"])
        return bound
    }

    /// Serves until the calling task is cancelled, then shuts down gracefully; a swift-service-lifecycle
    /// `Service.run()` can be exactly this call.
    public func run() async throws {
        let bound = try await start()
        await bound.runUntilCancelled()
    }
}

/// Binds a TCP server whose accepted connections are tracked and set up by `configure` on their own loop; one
/// over the tracker's limit is set up by `refuse` instead (closed at once when there is none).
///
/// Every loop of `group` gets a listening socket of its own on the same port (`SO_REUSEPORT`), and keeps the
/// connections it accepts. With one listener for all loops, NIO hands every other connection to another thread:
/// two cross-thread tasks, a wake-up and a hop back per connection. The port is claimed first (`claimPort`), so a port
/// in use is refused as before. What sharing still allows: a process of the same user may join the port on purpose
/// (Linux lets only the same effective user), which a process of the same user could do to us in worse ways anyway;
/// and two servers started on one port in the same instant (both claims made before either listens) share it.
func bindServer(
    host: String,
    port: Int,
    group: any EventLoopGroup,
    tracker: ConnectionTracker,
    afterClose: @escaping @Sendable () async -> Void = {},
    refuse: (@Sendable (any Channel) throws -> Void)? = nil,
    configure: @escaping @Sendable (any Channel) throws -> Void
) async throws -> BoundServer {
    let loops = Array(group.makeIterator())
    var address: SocketAddress
    do {
        address = try SocketAddress.makeAddressResolvingHost(host, port: port)
        if loops.count > 1 { address = try claimPort(address) }
    } catch {
        throw HTTPServerError.bindFailed(host: host, port: port, reason: bindFailureReason(error))
    }
    var channels: [any Channel] = []
    do {
        for loop in loops {
            let bootstrap = listener(on: loop, sharing: loops.count > 1, tracker: tracker, refuse: refuse, configure: configure)
            channels.append(try await bootstrap.bind(to: address).get())
        }
    } catch {
        // The listeners bound so far may have accepted connections already: they end with the server that failed.
        for channel in channels { try? await channel.close() }
        await tracker.quiesce(gracePeriod: .zero)
        await afterClose()
        throw HTTPServerError.bindFailed(host: host, port: port, reason: bindFailureReason(error))
    }
    guard let local = channels.first?.localAddress else {
        for channel in channels { try? await channel.close() }
        throw HTTPServerError.bindFailed(host: host, port: port, reason: "the socket has no local address")
    }
    return BoundServer(serverChannels: channels, localAddress: local, connections: tracker, afterClose: afterClose)
}

/// What a failed bind says to an operator: the system's words for a system call's error (NIO's own description of
/// one reads "bind: Address already in use) (errno: 98)").
private func bindFailureReason(_ error: any Error) -> String {
    guard let io = error as? IOError else { return "\(error)" }
    return String(cString: strerror(io.errnoCode)).lowercased()
}

/// A listener on `loop` whose connections stay on `loop`.
private func listener(
    on loop: any EventLoop,
    sharing: Bool,
    tracker: ConnectionTracker,
    refuse: (@Sendable (any Channel) throws -> Void)?,
    configure: @escaping @Sendable (any Channel) throws -> Void
) -> ServerBootstrap {
    ServerBootstrap(group: loop, childGroup: loop)
        .serverChannelOption(.backlog, value: 1024)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .serverChannelOption(.socketOption(.init(rawValue: SO_REUSEPORT)), value: sharing ? 1 : 0)
        // Accepted sockets inherit TCP_NODELAY from the listener (Linux; tested). Setting it again per connection
        // cost NIO a getsockname and an address formatted as text, 5 k instructions (callgrind). Child channel
        // options would not be applied: `ConnectionAcceptor` takes every connection before NIO's accept handler.
        .serverChannelOption(.tcpOption(.tcp_nodelay), value: 1)
        .serverChannelInitializer { server in
            server.eventLoop.makeCompletedFuture {
                try server.pipeline.syncOperations.addHandler(
                    ConnectionAcceptor(tracker: tracker, refuse: refuse, configure: configure))
            }
        }
}
