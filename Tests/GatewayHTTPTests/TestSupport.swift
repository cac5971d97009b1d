// A tiny keep-alive HTTP/1.1 client, a scripted selector and recording hooks for the GatewayHTTP tests.
import GatewayHTTP
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import XCTest
#if canImport(Glibc)
import Glibc
#endif

struct TestResponse: Sendable {
    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var body: ByteBuffer

    var text: String { String(buffer: body) }
}

enum TestClientError: Error {
    case connectionClosed
    case timedOut
}

/// One request on its way out, with the promise its response completes.
private struct OutboundRequest: Sendable {
    var head: HTTPRequestHead
    var body: ByteBuffer?
    var chunkSize: Int
    var promise: EventLoopPromise<TestResponse>
}

/// Writes requests and matches responses to them in order (one connection, keep-alive).
private final class ClientHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = OutboundRequest
    typealias OutboundOut = HTTPClientRequestPart

    private var waiting = CircularBuffer<EventLoopPromise<TestResponse>>()
    private var head: HTTPResponseHead?
    private var body = ByteBuffer()

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        waiting.append(request.promise)
        context.write(wrapOutboundOut(.head(request.head)), promise: nil)
        if var body = request.body {
            // Several writes, so large bodies travel as a stream of parts.
            while let slice = body.readSlice(length: min(request.chunkSize, body.readableBytes)), slice.readableBytes > 0 {
                context.write(wrapOutboundOut(.body(.byteBuffer(slice))), promise: nil)
            }
        }
        context.write(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.clear()
        case .body(var chunk):
            body.writeBuffer(&chunk)
        case .end:
            guard let head else { return }
            self.head = nil
            waiting.popFirst()?.succeed(TestResponse(status: head.status, headers: head.headers, body: body))
            body = ByteBuffer()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        while let promise = waiting.popFirst() { promise.fail(TestClientError.connectionClosed) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        while let promise = waiting.popFirst() { promise.fail(error) }
        context.close(promise: nil)
    }
}

/// A keep-alive HTTP/1.1 client connection for tests.
final class TestHTTPClient: Sendable {
    let channel: any Channel

    private init(channel: any Channel) {
        self.channel = channel
    }

    static func connect(port: Int, host: String = "127.0.0.1") async throws -> TestHTTPClient {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(2))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ClientHandler())
                }
            }
            .connect(host: host, port: port).get()
        return TestHTTPClient(channel: channel)
    }

    /// Sends one request and waits for its whole response, at most `timeout`.
    func request(
        _ method: HTTPMethod = .GET,
        _ uri: String,
        host: String = "app.test",
        headers: [(String, String)] = [],
        body: ByteBuffer? = nil,
        chunkSize: Int = 16 << 10,
        version: HTTPVersion = .http1_1,
        timeout: TimeAmount = .seconds(10)
    ) async throws -> TestResponse {
        var requestHeaders = HTTPHeaders([("host", host)] + headers)
        if let body, !requestHeaders.contains(name: "transfer-encoding") {
            requestHeaders.replaceOrAdd(name: "content-length", value: String(body.readableBytes))
        }
        let promise = channel.eventLoop.makePromise(of: TestResponse.self)
        let timer = channel.eventLoop.scheduleTask(in: timeout) { promise.fail(TestClientError.timedOut) }
        promise.futureResult.whenComplete { _ in timer.cancel() }
        let head = HTTPRequestHead(version: version, method: method, uri: uri, headers: requestHeaders)
        channel.writeAndFlush(OutboundRequest(head: head, body: body, chunkSize: chunkSize, promise: promise), promise: nil)
        return try await promise.futureResult.get()
    }

    func close() async {
        try? await channel.close()
    }
}

/// Routes `app.test` (any path) to route 0 and `empty.test` to route 1, which has no upstreams;
/// picks upstreams in a fixed cycle, so counts over whole cycles are exact.
final class CycleSelector: UpstreamSelector, UpstreamTable {
    private let cycle: [Upstream]
    private let retry: @Sendable (Upstream) -> Upstream?
    private let counter = Mutex(0)

    init(cycle: [Upstream], retry: @escaping @Sendable (Upstream) -> Upstream? = { _ in nil }) {
        self.cycle = cycle
        self.retry = retry
    }

    func route(host: String, path: String) -> Int? {
        switch host {
        case "app.test": return 0
        case "empty.test": return 1
        default: return nil
        }
    }

    func pick(route: Int) -> Upstream? {
        guard route == 0, !cycle.isEmpty else { return nil }
        let index = counter.withLock { count -> Int in
            defer { count += 1 }
            return count % cycle.count
        }
        return cycle[index]
    }

    func pickRetry(route: Int, excluding: Upstream) -> Upstream? {
        retry(excluding)
    }
}

/// Records what the proxy reports through its hooks.
final class HookRecorder: Sendable {
    private struct Counts {
        var responses: [String: Int] = [:]
        var retries: [String] = []
        var retryReasons: [UpstreamFailure] = []
        var failures: [UpstreamFailure] = []
    }

    private let counts = Mutex(Counts())

    var hooks: ProxyHooks {
        ProxyHooks(
            onResponse: { cluster, status in
                self.counts.withLock { $0.responses["\(cluster ?? "-") \(status)", default: 0] += 1 }
            },
            onRetry: { from, to, reason in
                self.counts.withLock {
                    $0.retries.append("\(from)->\(to)")
                    $0.retryReasons.append(reason)
                }
            },
            onUpstreamFailure: { _, failure in
                self.counts.withLock { $0.failures.append(failure) }
            }
        )
    }

    var responses: [String: Int] { counts.withLock { $0.responses } }
    var retries: [String] { counts.withLock { $0.retries } }
    var retryReasons: [UpstreamFailure] { counts.withLock { $0.retryReasons } }
    var failures: [UpstreamFailure] { counts.withLock { $0.failures } }
}

/// Holds answers back until the test opens it: a slow upstream whose slowness the test controls,
/// instead of a sleep it hopes is long enough.
final class Gate: Sendable {
    private struct State {
        var isOpen = false
        var held = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// How many answers wait at the gate (or waited, once it is open).
    var held: Int { state.withLock { $0.held } }

    /// Waits until the gate opens.
    func pass() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                state.held += 1
                if state.isOpen { return true }
                state.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// Lets every held answer and every later one through.
    func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.isOpen = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// A backend for the proxy tests: `/echo` returns the body, `/headers` lists the request headers,
/// `/slow` answers once `slow` opens (at once without a gate), `/hop` answers with hop-by-hop
/// headers; anything else, its name.
func startTestBackend(name: String, maxBody: Int = 8 << 20, slow: Gate? = nil) async throws -> BoundServer {
    let server = HTTPServer(configuration: .init(host: "127.0.0.1", port: 0, maxRequestBodySize: maxBody)) { request in
        switch request.path {
        case "/echo":
            return HTTPServerResponse(status: .ok, body: request.body)
        case "/headers":
            let lines = request.headers.map { "\($0.name.lowercased()): \($0.value)\n" }.joined()
            return HTTPServerResponse(status: .ok, text: lines)
        case "/slow":
            await slow?.pass()
            return HTTPServerResponse(status: .ok, text: "slow\n")
        case "/hop":
            return HTTPServerResponse(
                status: .ok,
                headers: ["keep-alive": "timeout=5", "connection": "x-secret", "x-secret": "1", "proxy-thing": "1", "x-kept": "1"],
                body: ByteBuffer(string: name)
            )
        default:
            return HTTPServerResponse(status: .ok, text: name)
        }
    }
    return try await server.start()
}

/// A TCP port on loopback that refuses connections: bound once by a server that is then closed.
func refusedPort() async throws -> Int {
    let bound = try await HTTPServer(configuration: .init(port: 0)) { _ in HTTPServerResponse(status: .ok) }.start()
    let port = bound.port
    await bound.shutdown(gracePeriod: .zero)
    return port
}

func upstream(_ cluster: String, _ port: Int) -> Upstream {
    Upstream(cluster: cluster, host: "127.0.0.1", port: UInt16(port))
}

func startProxy(
    _ selector: any UpstreamSelector,
    hooks: ProxyHooks = ProxyHooks(),
    responseTimeout: Duration = .seconds(30),
    clientIdleTimeout: Duration = .seconds(75)
) async throws -> BoundServer {
    let proxy = WeightedProxy(
        configuration: .init(
            host: "127.0.0.1", port: 0, connectTimeout: .seconds(1), responseTimeout: responseTimeout,
            clientIdleTimeout: clientIdleTimeout
        ),
        selector: selector,
        hooks: hooks
    )
    return try await proxy.start()
}

/// A lock-protected value that tasks can share (a local `Mutex` cannot be captured by escaping closures).
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) {
        mutex = Mutex(value)
    }

    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R {
        mutex.withLock { body(&$0) }
    }
}

/// Whether something accepts TCP connections on loopback `port` now (a blocking connect, refused at once when not).
func acceptsConnections(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = in_addr_t(UInt32(0x7F00_0001).bigEndian)
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}
