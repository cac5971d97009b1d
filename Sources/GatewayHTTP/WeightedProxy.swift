// The built-in reverse proxy: a NIO server whose connections each run a ProxyHandler, with one
// upstream pool per event loop.
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The built-in weighted HTTP/1.1 reverse proxy.
///
/// Each request is routed on the table ``UpstreamSelector`` gives it when its head arrives; bodies stream both ways; upstream connections are
/// kept alive and pooled per event loop. A try whose upstream connection fails before any response
/// byte (refused, connect timeout, closed early) is retried once on
/// ``UpstreamTable/pickRetry(route:excluding:)``'s upstream; a request body larger than
/// ``Configuration/retryBodyLimit`` that was already sent is not retried (502 instead). No response
/// head within ``Configuration/responseTimeout`` gives 504 without retry, since the upstream may
/// have acted on the request. An upstream failing during a response gives 502 while nothing of it
/// has been forwarded (responses up to 4 KiB are forwarded whole), else the client connection is
/// closed, the only way left to say the response is cut short. A request that may be sent twice
/// (GET, HEAD, OPTIONS, and PUT/DELETE where ``Configuration/resendAlso`` says so; never POST or
/// PATCH) is also retried, before any response byte, when the gateway publishes a table that no longer
/// gives its endpoint weight (``tablePublished(live:)``: a paused or cut-off cluster answers nothing,
/// so waiting would cost the whole response timeout), and when ``Configuration/perTryTimeout`` passes
/// without a response head. A non-idempotent request whose connection closes after it was sent gets
/// 502 rather than a second send. Every proxied response carries
/// `x-zone-cluster`; answers the proxy makes itself (400, 404, 408, 417, 502, 503, 504) do not.
///
/// Requests are checked before routing: framing the parser could read two ways (several `Host`,
/// `Content-Length` with `Transfer-Encoding`, differing lengths, a coding other than `chunked`) gets
/// 400, and the proxy writes the upstream's framing itself, so no header (nor `Connection` naming one)
/// can make the upstream read a different request than the proxy did. Paths are normalised before
/// routing and forwarded normalised (``RequestPath``). `Expect: 100-continue` is answered by the proxy
/// once the request has an upstream.
///
/// Every state of a client connection has a deadline (see ``Configuration``), and at most
/// ``Configuration/maxConnections`` client connections are served at once: one more is answered 503
/// and closed, with a log line at most every 10 s. With 90% of the places taken, an idle keep-alive
/// connection is closed after ``Configuration/requestHeaderTimeout`` instead of
/// ``Configuration/clientIdleTimeout``, to make room (Envoy's overload manager reduces timeouts alike).
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
        /// How long to wait for an upstream's response head, from the moment the upstream has the whole
        /// request, before answering 504; also the longest a response may then make no progress before
        /// both connections are closed. Default 30 s.
        public var responseTimeout: Duration
        /// How long a client connection may sit idle between requests before the proxy closes it.
        /// Default 75 s, nginx's keep-alive timeout: clients' own pools usually give up first.
        public var clientIdleTimeout: Duration
        /// How long a request head may take: from the accept for a connection's first request, from its
        /// first byte for a later one. Then 408 and close (silently when nothing arrived). Default 10 s,
        /// HAProxy's usual `timeout http-request`: a head is one packet or a few.
        public var requestHeaderTimeout: Duration
        /// The longest a request body may make no progress before 408 and close (504 if it was the
        /// upstream that stopped taking it); also how long the rest of a body is read and dropped after
        /// the response went out early (a 413, say) before the connection closes. Default 30 s, the
        /// usual `timeout client` of HAProxy (nginx's `client_body_timeout` is 60 s).
        public var requestBodyTimeout: Duration
        /// The most client connections served at once; one more gets 503 and is closed. nil: the
        /// default for this process's descriptor limit, `max(16, (RLIMIT_NOFILE − 128) / 3)`
        /// (``defaultMaxConnections``).
        public var maxConnections: Int?
        /// Idle keep-alive connections kept per upstream and event loop. Default 1,024: at least as many
        /// as one loop has in flight to one endpoint under heavy load, so a burst's connections are all
        /// kept for the next one (at 64, 256 clients over two loops made the pool close and reopen an
        /// upstream connection for 7% of requests, see bench/proxy-vs-haproxy.sh); the loop's share of
        /// ``maxConnections`` bounds the idle connections over all upstreams.
        public var maxIdleConnectionsPerUpstream: Int
        /// Idle connections older than this are not reused. Default 50 s: under the common 60 s
        /// keep-alive timeout of upstream servers, so they rarely close a connection we pick.
        public var idleConnectionTimeout: Duration
        /// The request body size up to which a request can still be retried after its first try
        /// consumed it. Default 64 KiB: the copy kept per request in flight stays small.
        public var retryBodyLimit: Int
        /// How long shutdown lets in-flight requests finish. Default 10 s.
        public var shutdownGracePeriod: Duration
        /// How long a try may wait for its response head, from the moment the upstream has the whole
        /// request, before a request that may be sent twice goes to another cluster, once (Envoy's
        /// `per_try_timeout`). Default nil, off: how slow a healthy answer may be is the application's
        /// to say, and a retry doubles the load of every slow request. Noticed within twice its length.
        public var perTryTimeout: Duration?
        /// PUT and DELETE are re-sent after a try that wrote them (table drop, per-try timeout, closed
        /// before answering) only when listed here. Default empty: many applications do not make them
        /// idempotent, although RFC 9110 says they are.
        public var resendAlso: Set<ResendableMethod>
        /// The header that pins a request to one cluster (`x-zone-cluster-pin: c2`), lower-case; nil (default):
        /// no pinning, and no header is looked at. A pinned request goes to an endpoint of that cluster that the
        /// table lists as healthy for its route, even one whose cluster has weight 0 now, else gets 503; its retry
        /// stays in that cluster; the header is removed before forwarding. Counted by ``ProxyHooks/onPinned``.
        public var pinHeader: String?

        /// Creates a configuration with the documented defaults.
        public init(
            host: String = "0.0.0.0",
            port: Int,
            connectTimeout: Duration = .seconds(1),
            responseTimeout: Duration = .seconds(30),
            clientIdleTimeout: Duration = .seconds(75),
            requestHeaderTimeout: Duration = .seconds(10),
            requestBodyTimeout: Duration = .seconds(30),
            maxConnections: Int? = nil,
            maxIdleConnectionsPerUpstream: Int = 1024,
            idleConnectionTimeout: Duration = .seconds(50),
            retryBodyLimit: Int = 64 << 10,
            shutdownGracePeriod: Duration = .seconds(10),
            perTryTimeout: Duration? = nil,
            resendAlso: Set<ResendableMethod> = [],
            pinHeader: String? = nil
        ) {
            self.pinHeader = pinHeader
            self.host = host
            self.port = port
            self.connectTimeout = connectTimeout
            self.responseTimeout = responseTimeout
            self.clientIdleTimeout = clientIdleTimeout
            self.requestHeaderTimeout = requestHeaderTimeout
            self.requestBodyTimeout = requestBodyTimeout
            self.maxConnections = maxConnections
            self.maxIdleConnectionsPerUpstream = maxIdleConnectionsPerUpstream
            self.idleConnectionTimeout = idleConnectionTimeout
            self.retryBodyLimit = retryBodyLimit
            self.shutdownGracePeriod = shutdownGracePeriod
            self.perTryTimeout = perTryTimeout
            self.resendAlso = resendAlso
        }

        /// The connection limit in force: ``maxConnections``, or the default for the descriptor limit.
        public var effectiveMaxConnections: Int {
            maxConnections ?? WeightedProxy.defaultMaxConnections()
        }
    }

    /// The default connection limit for a descriptor limit (this process's `RLIMIT_NOFILE` when nil):
    /// `max(16, (limit − 128) / 3)`. Each client connection may use three descriptors (its own, its
    /// upstream connection, and one idle pooled upstream connection: the pools keep at most the limit's
    /// worth of idle connections in all); 128 stay for the admin API, gossip, the Kubernetes watch, the
    /// outputs and files. 1,024 descriptors give 298 connections.
    public static func defaultMaxConnections(descriptorLimit: Int? = nil) -> Int {
        ConnectionLimit.defaultMaximum(descriptorLimit: descriptorLimit ?? ConnectionLimit.descriptorLimit())
    }

    /// This process's soft limit on open file descriptors (`RLIMIT_NOFILE`).
    public static func descriptorLimit() -> Int {
        ConnectionLimit.descriptorLimit()
    }

    /// How many client connections this process may serve at most with its descriptor limit (the
    /// same formula solved for the limit), for validating an explicit maximum.
    public static func connectionCapacity(descriptorLimit: Int? = nil) -> Int {
        max(1, ((descriptorLimit ?? ConnectionLimit.descriptorLimit()) - ConnectionLimit.reservedDescriptors) / 3)
    }

    /// The configuration the proxy was created with.
    public let configuration: Configuration
    private let shared: ProxyShared
    private let group: any EventLoopGroup
    private let logger: Logger
    /// Each event loop's pool and client connections, once started.
    private let proxyLoops = Mutex<[NIOLoopBound<ProxyLoop>]>([])

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
            timeouts: ClientTimeouts(
                requestHead: TimeAmount(configuration.requestHeaderTimeout),
                requestBody: TimeAmount(configuration.requestBodyTimeout),
                response: TimeAmount(configuration.responseTimeout),
                idle: TimeAmount(configuration.clientIdleTimeout),
                perTry: configuration.perTryTimeout.map { TimeAmount($0) }
            ),
            retryBodyLimit: configuration.retryBodyLimit,
            limit: ConnectionLimit(maximum: configuration.effectiveMaxConnections, logger: logger),
            resend: ResendPolicy(alsoResend: configuration.resendAlso),
            pin: configuration.pinHeader.map { header in
                ClusterPin(header: header.lowercased(), report: hooks.onPinned ?? { _, _ in })
            }
        )
        self.group = group
        self.logger = logger
    }

    /// Binds the listening socket and starts proxying; ``BoundServer/shutdown(gracePeriod:)`` stops
    /// accepting, lets in-flight requests finish, then closes the pooled upstream connections.
    public func start() async throws -> BoundServer {
        let configuration = self.configuration
        var pools: [ObjectIdentifier: NIOLoopBound<ProxyLoop>] = [:]
        let loops = Array(group.makeIterator())
        // Each loop's share of the connection limit bounds its idle upstream connections in all.
        let maxIdlePerLoop = max(1, shared.limit.maximum / max(1, loops.count))
        let tick = LoopClients.tick(for: shared.timeouts)
        for loop in loops {
            pools[ObjectIdentifier(loop)] = try await loop.submit {
                NIOLoopBound(
                    ProxyLoop(pool: UpstreamPool(
                        eventLoop: loop,
                        maxIdlePerUpstream: configuration.maxIdleConnectionsPerUpstream,
                        maxIdleTotal: maxIdlePerLoop,
                        idleTimeout: TimeAmount(configuration.idleConnectionTimeout),
                        connectTimeout: TimeAmount(configuration.connectTimeout)
                    ), tick: tick),
                    eventLoop: loop
                )
            }.get()
        }
        let allPools = Array(pools.values)
        proxyLoops.withLock { $0 = allPools }
        let shared = self.shared
        let tracker = ConnectionTracker()
        let bound = try await bindServer(
            host: configuration.host,
            port: configuration.port,
            group: group,
            tracker: tracker,
            afterClose: {
                for pool in allPools {
                    try? await pool.eventLoop.submit { pool.value.pool.closeAll() }.get()
                }
            }
        ) { [pools] channel in
            let sync = channel.pipeline.syncOperations
            let limit = shared.limit
            guard limit.admit() else {
                // Over the limit: answered and closed, before the process runs out of descriptors.
                limit.shed()
                shared.hooks.onResponse(nil, HTTPResponseStatus.serviceUnavailable.code)
                try sync.addHandler(OverloadAnswerHandler(limit: limit))
                return
            }
            do {
                // Each loop's listener keeps its connections on that loop (bindServer), so every connection's loop has
                // its share of the proxy; the channel closes should that ever not hold.
                guard let loop = pools[ObjectIdentifier(channel.eventLoop)]?.value else {
                    throw ChannelError.inappropriateOperationForState
                }
                // The one handler: it reads requests from the bytes and writes responses as bytes. It gives the place
                // under the limit back when it is removed, as the connection closes: a callback on the close future
                // instead would be its second, which NIO keeps in an array it copies into a queue (1.4 k instructions).
                try sync.addHandler(ProxyHandler(shared: shared, pool: loop.pool, clients: loop.clients))
            } catch {
                limit.release()
                throw error
            }
        }
        logger.info("proxy listening", metadata: [
            "address": "\(bound.localAddress)", "maxConnections": "\(shared.limit.maximum)",
            "requestHeaderTimeout": "\(configuration.requestHeaderTimeout)", "requestBodyTimeout": "\(configuration.requestBodyTimeout)",
        ])
        return bound
    }

    /// Tells the proxy that the gateway published a table whose endpoints with weight are `live`; call
    /// it after the selector returns picks from that table. On every event loop, idle pooled connections
    /// to other endpoints are closed, and each request in flight to one of them that has no response
    /// byte yet and may be sent twice is sent to ``UpstreamTable/pickRetry(route:excluding:)``'s
    /// upstream (counted as a retry with reason ``UpstreamFailure/leftTable``). Returns at once; the
    /// work runs on the loops. Does nothing before ``start()``.
    public func tablePublished(live: Set<Upstream>) {
        for loop in proxyLoops.withLock({ $0 }) {
            loop.eventLoop.execute { loop.value.tablePublished(live: live) }
        }
    }

    /// Proxies until the calling task is cancelled, then shuts down within
    /// ``Configuration/shutdownGracePeriod``; a swift-service-lifecycle `Service.run()` can be exactly this call.
    public func run() async throws {
        let bound = try await start()
        await bound.runUntilCancelled(gracePeriod: configuration.shutdownGracePeriod)
    }
}
