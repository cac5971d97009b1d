// The `zone-agent backend` command's server: answers its own name, so a client can see which
// cluster served it, and can be told to fail for drills.
import Atomics
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// A tiny HTTP backend for demos and drills that answers every path with its name.
///
/// `GET /healthz` answers 200 `ok`; every other path answers 200 with `NAME` and a newline.
/// `POST /admin/fail` makes every non-admin path answer 503 (the health check included) until
/// `POST /admin/recover`; drills use this to take a backend down without killing it. `POST /admin/fault`
/// makes every path but `/healthz` answer 500 (until `/admin/recover`): a backend that passes its probes
/// but fails real requests, what passive outlier detection is for.
public final class DemoBackend: Sendable {
    /// The name the backend answers with.
    public let name: String
    private let failing = ManagedAtomic<Bool>(false)
    private let faulty = ManagedAtomic<Bool>(false)
    private let server: HTTPServer

    /// Creates a backend that will listen on `host:port` (port 0 picks a free port).
    public init(
        name: String,
        host: String = "127.0.0.1",
        port: Int,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "zone-agent.backend")
    ) {
        self.name = name
        let failing = self.failing
        let faulty = self.faulty
        // Built once: every answer shares these bytes instead of encoding the name per request.
        let nameBody = ByteBuffer(string: name + "\n")
        // 4,096 connections rather than the admin API's 128: a demo backend serves the proxy's pools (up to 64
        // idle connections per upstream and event loop) under benchmark load and must not be what sheds it.
        self.server = HTTPServer(
            configuration: .init(host: host, port: port, maxRequestBodySize: 64 << 10, maxConnections: 4096),
            group: group,
            logger: logger
        ) { request in
            DemoBackend.answer(request, nameBody: nameBody, failing: failing, faulty: faulty)
        }
    }

    /// Whether the backend currently answers 503.
    public var isFailing: Bool { failing.load(ordering: .relaxed) }

    /// Makes every non-admin path answer 503, as `POST /admin/fail` does.
    public func fail() { failing.store(true, ordering: .relaxed) }

    /// Makes every path but `/healthz` answer 500, as `POST /admin/fault` does.
    public func fault() { faulty.store(true, ordering: .relaxed) }

    /// Returns to normal answers, as `POST /admin/recover` does.
    public func recover() {
        failing.store(false, ordering: .relaxed)
        faulty.store(false, ordering: .relaxed)
    }

    /// Binds and starts answering.
    public func start() async throws -> BoundServer {
        try await server.start()
    }

    /// Serves until the calling task is cancelled, then shuts down gracefully.
    public func run() async throws {
        try await server.run()
    }

    static func answer(_ request: HTTPServerRequest, nameBody: ByteBuffer, failing: ManagedAtomic<Bool>,
                       faulty: ManagedAtomic<Bool>) -> HTTPServerResponse {
        let path = request.path
        if path.hasPrefix("/admin/") {
            guard request.method == .POST else { return HTTPServerResponse(status: .methodNotAllowed, text: "use POST\n") }
            switch path {
            case "/admin/fail":
                failing.store(true, ordering: .relaxed)
                return HTTPServerResponse(status: .ok, text: "failing\n")
            case "/admin/fault":
                faulty.store(true, ordering: .relaxed)
                return HTTPServerResponse(status: .ok, text: "faulty: health checks pass, other paths answer 500\n")
            case "/admin/recover":
                failing.store(false, ordering: .relaxed)
                faulty.store(false, ordering: .relaxed)
                return HTTPServerResponse(status: .ok, text: "recovered\n")
            default:
                return HTTPServerResponse(status: .notFound, text: "unknown admin path\n")
            }
        }
        if failing.load(ordering: .relaxed) {
            return HTTPServerResponse(status: .serviceUnavailable, text: "failing\n")
        }
        if path == "/healthz" {
            return HTTPServerResponse(status: .ok, text: "ok\n")
        }
        if faulty.load(ordering: .relaxed) {
            return HTTPServerResponse(status: .internalServerError, text: "fault\n")
        }
        return HTTPServerResponse(status: .ok, headers: ["content-type": "text/plain; charset=utf-8"], body: nameBody)
    }
}
