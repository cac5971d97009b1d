import GatewayHTTP
import NIOCore
import NIOHTTP1
import NIOPosix
import XCTest

/// Issue 10, part 2: a cluster that hangs instead of refusing (a paused process, a cut network) fails
/// no request that may be sent twice, and never gets a non-idempotent one twice.
final class ProxyFailoverTests: XCTestCase {
    // MARK: Helpers

    private func startProxy(
        _ selector: any UpstreamSelector,
        hooks: ProxyHooks = ProxyHooks(),
        _ adjust: (inout WeightedProxy.Configuration) -> Void = { _ in }
    ) async throws -> (WeightedProxy, BoundServer) {
        var configuration = WeightedProxy.Configuration(host: "127.0.0.1", port: 0)
        adjust(&configuration)
        let proxy = WeightedProxy(configuration: configuration, selector: selector, hooks: hooks)
        return (proxy, try await proxy.start())
    }

    /// The end of a test: the client, then the proxy, then the upstreams (or listeners) it talked to.
    private func stop(_ client: TestHTTPClient, _ bound: BoundServer, _ upstreams: (() async -> Void)...) async {
        await client.close()
        await bound.shutdown()
        for close in upstreams { await close() }
    }

    /// c2 hangs (reads requests, never answers), c1 answers; the table starts with both, c2 first.
    private func hangingAndLive() async throws -> (hanging: CountingUpstream, live: CountingUpstream, selector: SwitchableSelector) {
        let hanging = try await CountingUpstream.start(answers: false)
        let live = try await CountingUpstream.start(answers: true)
        let selector = SwitchableSelector(order: [upstream("c2", hanging.port), upstream("c1", live.port)])
        return (hanging, live, selector)
    }

    // MARK: Table drops the cluster of a request in flight

    func testGetInFlightToADroppedClusterIsResentToALiveCluster() async throws {
        let (hanging, live, selector) = try await hangingAndLive()
        let recorder = HookRecorder()
        let (proxy, bound) = try await startProxy(selector, hooks: recorder.hooks)
        let client = try await TestHTTPClient.connect(port: bound.port)
        let started = ContinuousClock.now
        async let response = client.request(.GET, "/", timeout: .seconds(10))
        try await waitUntil { hanging.requests == 1 }
        // The gateway drops c2: the picker first, then the proxy hears of it.
        selector.keep(["c1"])
        proxy.tablePublished(live: selector.live)
        let answer = try await response
        XCTAssertEqual(answer.status, .ok)
        XCTAssertEqual(answer.headers.first(name: "x-zone-cluster"), "c1")
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(5), "answered by the failover, not the 30 s response timeout")
        XCTAssertEqual(recorder.retries, ["c2->c1"])
        XCTAssertEqual(recorder.retryReasons, [.leftTable])
        XCTAssertEqual(hanging.requests, 1)
        XCTAssertEqual(live.requests, 1)
        await stop(client, bound, hanging.close, live.close)
    }

    func testRequestStillConnectingToADroppedClusterMovesAtOnce() async throws {
        let silent = try await SynDroppingListener.start()
        let live = try await CountingUpstream.start(answers: true)
        let selector = SwitchableSelector(order: [upstream("c2", silent.port), upstream("c1", live.port)])
        let recorder = HookRecorder()
        let (proxy, bound) = try await startProxy(selector, hooks: recorder.hooks) { $0.connectTimeout = .seconds(20) }
        let client = try await TestHTTPClient.connect(port: bound.port)
        let started = ContinuousClock.now
        async let response = client.request(.GET, "/", timeout: .seconds(10))
        // The request is queued behind a connect the kernel will never complete.
        try await waitUntil { selector.picks == 1 }
        selector.keep(["c1"])
        proxy.tablePublished(live: selector.live)
        let answer = try await response
        XCTAssertEqual(answer.headers.first(name: "x-zone-cluster"), "c1")
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(5), "moved by the table, not the 20 s connect timeout")
        XCTAssertEqual(recorder.retryReasons, [.leftTable])
        await stop(client, bound, silent.close, live.close)
    }

    func testPostInFlightToADroppedClusterIsNotResent() async throws {
        let (hanging, live, selector) = try await hangingAndLive()
        let recorder = HookRecorder()
        let (proxy, bound) = try await startProxy(selector, hooks: recorder.hooks) { $0.responseTimeout = .seconds(1) }
        let client = try await TestHTTPClient.connect(port: bound.port)
        async let response = client.request(.POST, "/", body: ByteBuffer(string: "charge once"), timeout: .seconds(10))
        try await waitUntil { hanging.requests == 1 }
        selector.keep(["c1"])
        proxy.tablePublished(live: selector.live)
        // The hanging upstream may be acting on it: the POST waits for its own timeout, as before.
        let answer = try await response
        XCTAssertEqual(answer.status, .gatewayTimeout)
        XCTAssertEqual(live.requests, 0, "a POST is never sent twice")
        XCTAssertEqual(hanging.requests, 1)
        XCTAssertEqual(recorder.retries, [])
        await stop(client, bound, hanging.close, live.close)
    }

    func testPutIsResentOnlyWhereConfigured() async throws {
        for configured in [false, true] {
            let (hanging, live, selector) = try await hangingAndLive()
            let (proxy, bound) = try await startProxy(selector) {
                $0.responseTimeout = .seconds(1)
                if configured { $0.resendAlso = [.put] }
            }
            let client = try await TestHTTPClient.connect(port: bound.port)
            async let response = client.request(.PUT, "/", body: ByteBuffer(string: "state"), timeout: .seconds(10))
            try await waitUntil { hanging.requests == 1 }
            selector.keep(["c1"])
            proxy.tablePublished(live: selector.live)
            let answer = try await response
            XCTAssertEqual(answer.status, configured ? .ok : .gatewayTimeout, "resendAlso: PUT \(configured)")
            XCTAssertEqual(live.requests, configured ? 1 : 0)
            await stop(client, bound, hanging.close, live.close)
        }
    }

    func testRequestToAnUpstreamStillInTheTableIsLeftAlone() async throws {
        let (hanging, live, selector) = try await hangingAndLive()
        let recorder = HookRecorder()
        let (proxy, bound) = try await startProxy(selector, hooks: recorder.hooks) { $0.responseTimeout = .seconds(1) }
        let client = try await TestHTTPClient.connect(port: bound.port)
        async let response = client.request(.GET, "/", timeout: .seconds(10))
        try await waitUntil { hanging.requests == 1 }
        // A table that still gives c2 weight changes nothing for the request waiting on it.
        proxy.tablePublished(live: selector.live)
        let answer = try await response
        XCTAssertEqual(answer.status, .gatewayTimeout)
        XCTAssertEqual(live.requests, 0)
        XCTAssertEqual(recorder.retries, [])
        await stop(client, bound, hanging.close, live.close)
    }

    func testIdlePooledConnectionsToADroppedEndpointAreClosed() async throws {
        let kept = try await CountingUpstream.start(answers: true)
        let dropped = try await CountingUpstream.start(answers: true)
        let selector = SwitchableSelector(order: [upstream("c2", dropped.port), upstream("c1", kept.port)])
        let (proxy, bound) = try await startProxy(selector)
        let client = try await TestHTTPClient.connect(port: bound.port)
        let first = try await client.request(.GET, "/")
        XCTAssertEqual(first.headers.first(name: "x-zone-cluster"), "c2")
        // The keep-alive connection to c2 now idles in the pool.
        XCTAssertEqual(dropped.open, 1)
        selector.keep(["c1"])
        proxy.tablePublished(live: selector.live)
        try await waitUntil { dropped.open == 0 }
        let second = try await client.request(.GET, "/")
        XCTAssertEqual(second.headers.first(name: "x-zone-cluster"), "c1")
        await stop(client, bound, kept.close, dropped.close)
    }

    // MARK: Per-try timeout

    func testPerTryTimeoutRetriesASlowGetOnce() async throws {
        let (hanging, live, selector) = try await hangingAndLive()
        let recorder = HookRecorder()
        let (_, bound) = try await startProxy(selector, hooks: recorder.hooks) { $0.perTryTimeout = .milliseconds(200) }
        let client = try await TestHTTPClient.connect(port: bound.port)
        let answer = try await client.request(.GET, "/", timeout: .seconds(10))
        XCTAssertEqual(answer.status, .ok)
        XCTAssertEqual(answer.headers.first(name: "x-zone-cluster"), "c1")
        XCTAssertEqual(recorder.retryReasons, [.perTryTimeout])
        XCTAssertEqual(hanging.requests, 1)
        XCTAssertEqual(live.requests, 1)
        await stop(client, bound, hanging.close, live.close)
    }

    func testPerTryTimeoutRetriesOnlyOnce() async throws {
        let first = try await CountingUpstream.start(answers: false)
        let second = try await CountingUpstream.start(answers: false)
        let selector = SwitchableSelector(order: [upstream("c2", first.port), upstream("c1", second.port)])
        let recorder = HookRecorder()
        let (_, bound) = try await startProxy(selector, hooks: recorder.hooks) {
            $0.perTryTimeout = .milliseconds(200)
            $0.responseTimeout = .seconds(1)
        }
        let client = try await TestHTTPClient.connect(port: bound.port)
        let answer = try await client.request(.GET, "/", timeout: .seconds(10))
        // The second try gets the rest of the response timeout, not a third try.
        XCTAssertEqual(answer.status, .gatewayTimeout)
        XCTAssertEqual(recorder.retryReasons, [.perTryTimeout])
        XCTAssertEqual(first.requests, 1)
        XCTAssertEqual(second.requests, 1)
        await stop(client, bound, first.close, second.close)
    }

    func testPerTryTimeoutNeverResendsAPost() async throws {
        let (hanging, live, selector) = try await hangingAndLive()
        let recorder = HookRecorder()
        let (_, bound) = try await startProxy(selector, hooks: recorder.hooks) {
            $0.perTryTimeout = .milliseconds(100)
            $0.responseTimeout = .seconds(1)
        }
        let client = try await TestHTTPClient.connect(port: bound.port)
        let answer = try await client.request(.POST, "/", body: ByteBuffer(string: "once"), timeout: .seconds(10))
        XCTAssertEqual(answer.status, .gatewayTimeout)
        XCTAssertEqual(live.requests, 0)
        XCTAssertEqual(recorder.retries, [])
        await stop(client, bound, hanging.close, live.close)
    }

    // MARK: A POST whose connection closes before any answer

    func testPostWhoseUpstreamClosesBeforeAnsweringIsNotResent() async throws {
        let closing = try await startScriptedUpstream { _ in (bytes: "", close: true) }
        let live = try await CountingUpstream.start(answers: true)
        let closingPort = try XCTUnwrap(closing.localAddress?.port)
        let selector = SwitchableSelector(order: [upstream("c2", closingPort), upstream("c1", live.port)])
        let (_, bound) = try await startProxy(selector)
        let client = try await TestHTTPClient.connect(port: bound.port)
        let post = try await client.request(.POST, "/", body: ByteBuffer(string: "once"))
        XCTAssertEqual(post.status, .badGateway, "the upstream may have acted on it before closing")
        XCTAssertEqual(live.requests, 0)
        // A GET in the same spot is re-sent.
        let get = try await client.request(.GET, "/")
        XCTAssertEqual(get.status, .ok)
        XCTAssertEqual(get.headers.first(name: "x-zone-cluster"), "c1")
        await client.close()
        await bound.shutdown()
        try await closing.close()
        await live.close()
    }

    // MARK: Connect timeout

    func testConnectToAnUpstreamThatDropsSynsTimesOutAndMovesOn() async throws {
        let silent = try await SynDroppingListener.start()
        let live = try await CountingUpstream.start(answers: true)
        let selector = SwitchableSelector(order: [upstream("c2", silent.port), upstream("c1", live.port)])
        let recorder = HookRecorder()
        let (_, bound) = try await startProxy(selector, hooks: recorder.hooks) { $0.connectTimeout = .milliseconds(300) }
        let client = try await TestHTTPClient.connect(port: bound.port)
        let started = ContinuousClock.now
        let answer = try await client.request(.POST, "/", body: ByteBuffer(string: "never sent to c2"), timeout: .seconds(10))
        let elapsed = ContinuousClock.now - started
        XCTAssertEqual(answer.status, .ok)
        XCTAssertEqual(answer.headers.first(name: "x-zone-cluster"), "c1")
        XCTAssertEqual(recorder.failures, [.connectTimeout])
        XCTAssertEqual(recorder.retryReasons, [.connectTimeout])
        XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(250))
        XCTAssertLessThan(elapsed, .seconds(3))
        await stop(client, bound, silent.close, live.close)
    }
}

/// A table that can drop clusters: picks the first upstream of `order` still kept; a retry, the first
/// other kept one.
final class SwitchableSelector: UpstreamSelector, UpstreamTable {
    private let order: [Upstream]
    private let kept: Locked<Set<String>>
    private let pickCount = Locked(0)

    /// How many first picks were made (retries not counted).
    var picks: Int { pickCount.withLock { $0 } }

    init(order: [Upstream]) {
        self.order = order
        self.kept = Locked(Set(order.map(\.cluster)))
    }

    func keep(_ clusters: Set<String>) {
        kept.withLock { $0 = clusters }
    }

    var live: Set<Upstream> {
        let clusters = kept.withLock { $0 }
        return Set(order.filter { clusters.contains($0.cluster) })
    }

    func route(host: String, path: String) -> Int? { 0 }

    func pick(route: Int) -> Upstream? {
        pickCount.withLock { $0 += 1 }
        let clusters = kept.withLock { $0 }
        return order.first { clusters.contains($0.cluster) }
    }

    func pickRetry(route: Int, excluding: Upstream) -> Upstream? {
        let clusters = kept.withLock { $0 }
        return order.first { clusters.contains($0.cluster) && $0 != excluding }
    }
}

/// An upstream that counts the requests it reads and its open connections; it answers each request
/// with `200 ok`, or never (a paused process: the kernel takes the bytes, nobody answers).
final class CountingUpstream: Sendable {
    private struct Counts {
        var requests = 0
        var open = 0
    }

    private let counts = Locked(Counts())
    private let channel = Locked<(any Channel)?>(nil)

    var requests: Int { counts.withLock { $0.requests } }
    var open: Int { counts.withLock { $0.open } }
    var port: Int { channel.withLock { $0?.localAddress?.port } ?? 0 }

    static func start(answers: Bool) async throws -> CountingUpstream {
        let upstream = CountingUpstream()
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(CountingHandler(upstream: upstream, answers: answers))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        upstream.channel.withLock { $0 = server }
        return upstream
    }

    fileprivate func opened() { counts.withLock { $0.open += 1 } }
    fileprivate func closed() { counts.withLock { $0.open -= 1 } }
    fileprivate func requestRead() { counts.withLock { $0.requests += 1 } }

    func close() async {
        try? await channel.withLock { $0 }?.close()
    }
}

private final class CountingHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let upstream: CountingUpstream
    private let answers: Bool
    private var received = ""

    init(upstream: CountingUpstream, answers: Bool) {
        self.upstream = upstream
        self.answers = answers
    }

    func channelActive(context: ChannelHandlerContext) {
        upstream.opened()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        upstream.closed()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received += String(buffer: unwrapInboundIn(data))
        // Every request line ends so, and no header or test body contains it.
        while let line = received.range(of: " HTTP/1.1\r\n") {
            received = String(received[line.upperBound...])
            upstream.requestRead()
            if answers {
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")), promise: nil)
            }
        }
    }
}

/// A listening socket that never accepts, with its accept queue filled: the kernel drops further SYNs,
/// so a connect to it hangs until the connecting side gives up (a host that is cut off).
final class SynDroppingListener: Sendable {
    private let server: any Channel
    private let fillers: [any Channel]
    let port: Int

    private init(server: any Channel, fillers: [any Channel]) {
        self.server = server
        self.fillers = fillers
        self.port = server.localAddress?.port ?? 0
    }

    static func start() async throws -> SynDroppingListener {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 0)
            // Never read: nothing is accepted, so the queue stays full.
            .serverChannelOption(.autoRead, value: false)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = server.localAddress?.port ?? 0
        var fillers: [any Channel] = []
        // Connect until one hangs: the queue is full (with backlog 0 Linux queues one).
        for _ in 0..<16 {
            do {
                let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connectTimeout(.milliseconds(200))
                    .connect(host: "127.0.0.1", port: port).get()
                fillers.append(channel)
            } catch ChannelError.connectTimeout {
                return SynDroppingListener(server: server, fillers: fillers)
            }
        }
        throw TestClientError.timedOut
    }

    func close() async {
        for filler in fillers { try? await filler.close() }
        try? await server.close()
    }
}
