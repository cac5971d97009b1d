// The built-in reverse proxy: a NIO server whose connections each run a ProxyHandler, with one
// upstream pool per event loop.
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// The built-in weighted HTTP/1.1 reverse proxy.
///
/// Each request is routed by ``UpstreamSelector``; bodies stream both ways; upstream connections are
/// kept alive and pooled per event loop. A try whose upstream connection fails before any response
/// byte (refused, connect timeout, closed early) is retried once on
/// ``UpstreamSelector/pickRetry(route:excluding:)``'s upstream; a request body larger than
/// ``Configuration/retryBodyLimit`` that was already sent is not retried (502 instead). No response
/// head within ``Configuration/responseTimeout`` gives 504 without retry, since the upstream may
/// have acted on the request. An upstream failing during a response gives 502 while nothing of it
/// has been forwarded (responses up to 4 KiB are forwarded whole), else the client connection is
/// closed, the only way left to say the response is cut short. Every proxied response carries
/// `x-zone-cluster`; answers the proxy makes itself (404, 503, 502, 504, 400) do not.
public final class WeightedProxy: Sendable {
    /// Where the proxy listens and how it treats upstreams.
    public struct Configuration: Sendable {
        /// The address to bind: `0.0.0.0` for every interface, `127.0.0.1` for loopback.
        public var host: String
        /// The port to bind; 0 lets the kernel pick one (read it from ``BoundServer/port``).
        public var port: Int
        /// How long to wait for an upstream TCP connection before trying elsewhere. Default 1 s:
        /// a loopback or in-zone connect takes well under a millisecond, so this only fires on a dead host.
        public var connectTimeout: Duration
        /// How long to wait for an upstream's response head before answering 504. Default 30 s.
        public var responseTimeout: Duration
        /// How long a client connection may sit idle between requests before the proxy closes it.
        /// Default 75 s, nginx's keep-alive timeout: clients' own pools usually give up first.
        public var clientIdleTimeout: Duration
        /// Idle keep-alive connections kept per upstream and event loop. Default 64: the number of
        /// concurrent requests one loop typically has in flight to one endpoint, with room to spare.
        public var maxIdleConnectionsPerUpstream: Int
        /// Idle connections older than this are not reused. Default 50 s: under the common 60 s
        /// keep-alive timeout of upstream servers, so they rarely close a connection we pick.
        public var idleConnectionTimeout: Duration
        /// The request body size up to which a request can still be retried after its first try
        /// consumed it. Default 64 KiB: the copy kept per request in flight stays small.
        public var retryBodyLimit: Int
        /// How long shutdown lets in-flight requests finish. Default 10 s.
        public var shutdownGracePeriod: Duration

        /// Creates a configuration with the documented defaults.
        public init(
            host: String = "0.0.0.0",
            port: Int,
            connectTimeout: Duration = .seconds(1),
            responseTimeout: Duration = .seconds(30),
            clientIdleTimeout: Duration = .seconds(75),
            maxIdleConnectionsPerUpstream: Int = 64,
            idleConnectionTimeout: Duration = .seconds(50),
            retryBodyLimit: Int = 64 << 10,
            shutdownGracePeriod: Duration = .seconds(10)
        ) {
            self.host = host
            self.port = port
            self.connectTimeout = connectTimeout
            self.responseTimeout = responseTimeout
            self.clientIdleTimeout = clientIdleTimeout
            self.maxIdleConnectionsPerUpstream = maxIdleConnectionsPerUpstream
            self.idleConnectionTimeout = idleConnectionTimeout
            self.retryBodyLimit = retryBodyLimit
            self.shutdownGracePeriod = shutdownGracePeriod
        }
    }

    /// The configuration the proxy was created with.
    public let configuration: Configuration
    private let shared: ProxyShared
    private let group: any EventLoopGroup
    private let logger: Logger

    /// Creates a proxy; nothing listens until ``start()``.
    ///
    /// - Parameters:
    ///   - selector: the routing table; called on the event loops for every request.
    ///   - hooks: counters for metrics; called on the event loops.
    ///   - group: the event loops; the default singleton has one loop per core, which is what the proxy wants.
    public init(
        configuration: Configuration,
        selector: any UpstreamSelector,
        hooks: ProxyHooks = ProxyHooks(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "zone-agent.proxy")
    ) {
        self.configuration = configuration
        self.shared = ProxyShared(
            selector: selector,
            hooks: hooks,
            responseTimeout: TimeAmount(configuration.responseTimeout),
            idleTimeout: TimeAmount(configuration.clientIdleTimeout),
            retryBodyLimit: configuration.retryBodyLimit
        )
        self.group = group
        self.logger = logger
    }

    /// Binds the listening socket and starts proxying; ``BoundServer/shutdown(gracePeriod:)`` stops
    /// accepting, lets in-flight requests finish, then closes the pooled upstream connections.
    public func start() async throws -> BoundServer {
        let configuration = self.configuration
        var pools: [ObjectIdentifier: NIOLoopBound<UpstreamPool>] = [:]
        for loop in group.makeIterator() {
            pools[ObjectIdentifier(loop)] = try await loop.submit {
                NIOLoopBound(
                    UpstreamPool(
                        eventLoop: loop,
                        maxIdlePerUpstream: configuration.maxIdleConnectionsPerUpstream,
                        idleTimeout: TimeAmount(configuration.idleConnectionTimeout),
                        connectTimeout: TimeAmount(configuration.connectTimeout)
                    ),
                    eventLoop: loop
                )
            }.get()
        }
        let allPools = Array(pools.values)
        let shared = self.shared
        let tracker = ConnectionTracker()
        let bound = try await bindServer(
            host: configuration.host,
            port: configuration.port,
            group: group,
            tracker: tracker,
            afterClose: {
                for pool in allPools {
                    try? await pool.eventLoop.submit { pool.value.closeAll() }.get()
                }
            }
        ) { [pools] channel in
            let sync = channel.pipeline.syncOperations
            // Only NIO's request decoder: responses are written as bytes by ProxyHandler.
            try sync.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
            let pool = pools[ObjectIdentifier(channel.eventLoop)]?.value ?? UpstreamPool(
                // A loop outside the group's iterator (never with NIO's groups): a private pool still works.
                eventLoop: channel.eventLoop,
                maxIdlePerUpstream: configuration.maxIdleConnectionsPerUpstream,
                idleTimeout: TimeAmount(configuration.idleConnectionTimeout),
                connectTimeout: TimeAmount(configuration.connectTimeout)
            )
            try sync.addHandler(ProxyHandler(shared: shared, pool: pool))
        }
        logger.info("proxy listening", metadata: ["address": "\(bound.localAddress)"])
        return bound
    }

    /// Proxies until the calling task is cancelled, then shuts down within
    /// ``Configuration/shutdownGracePeriod``; a swift-service-lifecycle `Service.run()` can be exactly this call.
    public func run() async throws {
        let bound = try await start()
        await bound.runUntilCancelled(gracePeriod: configuration.shutdownGracePeriod)
    }
}
