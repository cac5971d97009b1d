// The small reusable HTTP/1.1 server behind the admin API and the demo backends.
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
/// and the connection closes. Pipelined requests are answered in order, one at a time.
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

        /// Creates a configuration.
        public init(host: String = "127.0.0.1", port: Int, maxRequestBodySize: Int = 1 << 20) {
            self.host = host
            self.port = port
            self.maxRequestBodySize = maxRequestBodySize
        }
    }

    enum Responder: Sendable {
        case async(Handler)
        case immediate(ImmediateHandler)
    }

    /// The configuration the server was created with.
    public let configuration: Configuration
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
        let maxBody = configuration.maxRequestBodySize
        let tracker = ConnectionTracker()
        let bound = try await bindServer(
            host: configuration.host, port: configuration.port, group: group, tracker: tracker
        ) { channel in
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
            try channel.pipeline.syncOperations.addHandler(
                HTTPServerRequestHandler(responder: responder, maxBodySize: maxBody)
            )
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

/// Binds a TCP server whose accepted connections are tracked and set up by `configure` on their own loop.
func bindServer(
    host: String,
    port: Int,
    group: any EventLoopGroup,
    tracker: ConnectionTracker,
    afterClose: @escaping @Sendable () async -> Void = {},
    configure: @escaping @Sendable (any Channel) throws -> Void
) async throws -> BoundServer {
    let bootstrap = ServerBootstrap(group: group)
        .serverChannelOption(.backlog, value: 1024)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
        .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try configure(channel)
                tracker.track(channel)
            }
        }
    let channel: any Channel
    do {
        channel = try await bootstrap.bind(host: host, port: port).get()
    } catch {
        throw HTTPServerError.bindFailed(host: host, port: port, reason: "\(error)")
    }
    guard let address = channel.localAddress else {
        try? await channel.close()
        throw HTTPServerError.bindFailed(host: host, port: port, reason: "the socket has no local address")
    }
    return BoundServer(serverChannel: channel, localAddress: address, connections: tracker, afterClose: afterClose)
}
