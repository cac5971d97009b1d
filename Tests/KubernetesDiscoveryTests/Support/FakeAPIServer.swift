import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// A stand-in for the Kubernetes API server: EndpointSlice and Ingress list and watch over HTTPS on 127.0.0.1.
///
/// It keeps a resourceVersion counter and an event history per service, so a watch from an old
/// resourceVersion is replayed like the real server does, and a test can compact the history (watches
/// from before it get 410 Gone), drop watch connections, or inject raw lines and ERROR events.
final class FakeAPIServer: Sendable {
    /// One request as the server saw it, with the status it answered.
    struct Request: Sendable, CustomStringConvertible {
        var path: String
        var query: [String: String]
        var authorization: String?
        var status: Int

        var isWatch: Bool { query["watch"] == "true" }
        var resourceVersion: String? { query["resourceVersion"] }
        var description: String {
            "\(isWatch ? "WATCH" : "LIST") \(path) rv=\(resourceVersion ?? "-") auth=\(authorization ?? "-") → \(status)"
        }
    }

    private struct Watch {
        var service: String
        var channel: any Channel
    }

    private struct HistoryEntry {
        var resourceVersion: Int
        var service: String
        var line: String
    }

    private struct State {
        var acceptedTokens: Set<String>
        var resourceVersion = 100
        var compactedBelow = 0
        var slices: [String: [String: (fixture: SliceFixture, version: Int)]] = [:]
        /// Ingresses by `NAMESPACE/NAME`.
        var ingresses: [String: (fixture: IngressFixture, version: Int)] = [:]
        var history: [HistoryEntry] = []
        var watches: [ObjectIdentifier: Watch] = [:]
        var connections: [ObjectIdentifier: any Channel] = [:]
        var stallLists = false
    }

    /// Every request answered so far, for tests to wait on.
    let requests = Observed<Request>("API server requests")
    let port: Int
    private let state: Mutex<State>
    private let serverChannel: any Channel

    /// Starts a server on 127.0.0.1 with an ephemeral port, serving `certificate`.
    static func start(certificate: TestCertificate, acceptedTokens: Set<String>) async throws -> FakeAPIServer {
        let chain = try NIOSSLCertificate.fromPEMFile(certificate.certificatePath).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: certificate.keyPath, format: .pem)
        let tls = try NIOSSLContext(configuration: .makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key)))
        let box = ServerBox()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                    // Without pipelining assistance the server keeps reading during a long watch response,
                    // as a real API server does, so it sees the client's close_notify and answers it.
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withPipeliningAssistance: false, withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(APIHandler(server: box))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let server = FakeAPIServer(channel: channel, tokens: acceptedTokens)
        box.server.withLock { $0 = server }
        return server
    }

    private init(channel: any Channel, tokens: Set<String>) {
        serverChannel = channel
        port = channel.localAddress?.port ?? 0
        state = Mutex(State(acceptedTokens: tokens))
    }

    var baseURL: String { "https://127.0.0.1:\(port)" }

    /// Stops listening and closes every connection.
    ///
    /// Closing from the server's side first means the client's TLS shutdown completes at once,
    /// instead of waiting out its timeout for a close_notify.
    func stop() async {
        try? await serverChannel.close()
        let channels = state.withLock { state in Array(state.connections.values) }
        for channel in channels { try? await channel.close() }
    }

    // MARK: - What tests change

    /// Replaces the set of bearer tokens the server accepts.
    func setAcceptedTokens(_ tokens: Set<String>) {
        state.withLock { $0.acceptedTokens = tokens }
    }

    /// The current resourceVersion.
    var resourceVersion: Int { state.withLock { $0.resourceVersion } }

    /// How many watch streams are open.
    var openWatches: Int { state.withLock { $0.watches.count } }

    /// Creates or replaces a slice; open watches of the service see ADDED or MODIFIED unless `notify` is false
    /// (the change is still in the history, so a watch that resumes from before it replays it).
    @discardableResult
    func upsert(_ service: String, _ slice: SliceFixture, notify: Bool = true) -> Int {
        let (version, targets, line) = state.withLock { state -> (Int, [any Channel], String) in
            state.resourceVersion += 1
            let version = state.resourceVersion
            let type = state.slices[service]?[slice.name] == nil ? "ADDED" : "MODIFIED"
            state.slices[service, default: [:]][slice.name] = (slice, version)
            let (namespace, name) = Self.split(service)
            let line = jsonLine([
                "type": type, "object": slice.object(namespace: namespace, service: name, resourceVersion: version),
            ])
            state.history.append(HistoryEntry(resourceVersion: version, service: service, line: line))
            return (version, notify ? Self.channels(of: service, in: state) : [], line)
        }
        Self.send(line, to: targets)
        return version
    }

    /// Deletes a slice; open watches of the service see DELETED.
    @discardableResult
    func delete(_ service: String, slice name: String) -> Int {
        let (version, targets, line) = state.withLock { state -> (Int, [any Channel], String) in
            state.resourceVersion += 1
            let version = state.resourceVersion
            let fixture = state.slices[service]?[name]?.fixture ?? SliceFixture(name: name, endpoints: [])
            state.slices[service]?[name] = nil
            let (namespace, service) = Self.split(service)
            let line = jsonLine([
                "type": "DELETED", "object": fixture.object(namespace: namespace, service: service, resourceVersion: version),
            ])
            return (version, Self.channels(of: "\(namespace)/\(service)", in: state), line)
        }
        state.withLock { $0.history.append(HistoryEntry(resourceVersion: version, service: service, line: line)) }
        Self.send(line, to: targets)
        return version
    }

    /// The watch key of the Ingresses of `namespace`: what `sendGoneEvent` and `dropWatches` take.
    static func ingressKey(_ namespace: String) -> String { "ingresses:\(namespace)" }

    /// Creates or replaces an Ingress; open watches of its namespace (or of all namespaces) see ADDED or MODIFIED.
    @discardableResult
    func upsertIngress(_ ingress: IngressFixture) -> Int {
        let (version, targets, line) = state.withLock { state -> (Int, [any Channel], String) in
            state.resourceVersion += 1
            let version = state.resourceVersion
            let type = state.ingresses[ingress.id] == nil ? "ADDED" : "MODIFIED"
            state.ingresses[ingress.id] = (ingress, version)
            let line = jsonLine(["type": type, "object": ingress.object(resourceVersion: version)])
            let key = Self.ingressKey(ingress.namespace)
            state.history.append(HistoryEntry(resourceVersion: version, service: key, line: line))
            return (version, Self.channels(of: key, in: state), line)
        }
        Self.send(line, to: targets)
        return version
    }

    /// Deletes an Ingress; open watches see DELETED.
    @discardableResult
    func deleteIngress(namespace: String, name: String) -> Int {
        let (version, targets, line) = state.withLock { state -> (Int, [any Channel], String) in
            state.resourceVersion += 1
            let version = state.resourceVersion
            let fixture = state.ingresses["\(namespace)/\(name)"]?.fixture ?? IngressFixture(namespace: namespace, name: name)
            state.ingresses["\(namespace)/\(name)"] = nil
            let line = jsonLine(["type": "DELETED", "object": fixture.object(resourceVersion: version)])
            let key = Self.ingressKey(namespace)
            state.history.append(HistoryEntry(resourceVersion: version, service: key, line: line))
            return (version, Self.channels(of: key, in: state), line)
        }
        Self.send(line, to: targets)
        return version
    }

    /// Advances the resourceVersion (as changes elsewhere in the cluster do) and sends a BOOKMARK with it.
    @discardableResult
    func bookmark(_ service: String) -> Int {
        let (version, targets) = state.withLock { state -> (Int, [any Channel]) in
            state.resourceVersion += 1
            return (state.resourceVersion, Self.channels(of: service, in: state))
        }
        let line = jsonLine([
            "type": "BOOKMARK",
            "object": [
                "kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
                "metadata": ["resourceVersion": String(version), "annotations": ["k8s.io/initial-events-end": "true"]],
            ],
        ])
        Self.send(line, to: targets)
        return version
    }

    /// When true, list responses send their head and part of the body, then nothing more.
    func stallLists(_ stall: Bool) {
        state.withLock { $0.stallLists = stall }
    }

    /// Forgets history up to now: a watch from an older resourceVersion gets 410 Gone.
    func compact() {
        state.withLock { state in
            state.compactedBelow = state.resourceVersion
            state.history.removeAll()
        }
    }

    /// Sends a raw line (which need not be JSON) to the service's open watches.
    func sendRaw(_ service: String, _ line: String) {
        Self.send(line, to: state.withLock { Self.channels(of: service, in: $0) })
    }

    /// Sends an ERROR event carrying a 410 Status, then ends those watches, as the real server does.
    func sendGoneEvent(_ service: String) {
        let line = jsonLine([
            "type": "ERROR",
            "object": [
                "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Expired", "code": 410,
                "message": "too old resource version",
            ],
        ])
        let targets = state.withLock { Self.channels(of: service, in: $0) }
        for channel in targets {
            channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: line + "\n"))), promise: nil)
            channel.writeAndFlush(HTTPServerResponsePart.end(nil), promise: nil)
        }
        state.withLock { state in
            for channel in targets { state.watches[ObjectIdentifier(channel)] = nil }
        }
    }

    /// Closes the TCP connections of every open watch (of one service, or all), mid-stream.
    func dropWatches(of service: String? = nil) {
        let targets = state.withLock { state in
            state.watches.values.filter { service == nil || $0.service == service }.map(\.channel)
        }
        for channel in targets { channel.close(promise: nil) }
    }

    // MARK: - Serving

    fileprivate enum Response {
        case json(status: HTTPResponseStatus, body: String)
        case watch(replay: [String])
        case stalled(body: String)
    }

    fileprivate func respond(to head: HTTPRequestHead, channel: any Channel) -> Response {
        let (path, query) = Self.parse(head.uri)
        let authorization = head.headers.first(name: "Authorization")
        let (response, status): (Response, Int) = state.withLock { state in
            let token = authorization.flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
            guard let token, state.acceptedTokens.contains(token) else {
                return (Self.status(.unauthorized, reason: "Unauthorized", message: "Unauthorized"), 401)
            }
            let parts = path.split(separator: "/").map(String.init)
            if parts.count >= 4, parts[0] == "apis", parts[1] == "networking.k8s.io", parts[2] == "v1" {
                return Self.ingresses(parts: parts, query: query, channel: channel, state: &state)
            }
            guard parts.count == 6, parts[0] == "apis", parts[1] == "discovery.k8s.io", parts[2] == "v1",
                  parts[3] == "namespaces", parts[5] == "endpointslices",
                  let selector = query["labelSelector"], selector.hasPrefix("kubernetes.io/service-name=")
            else {
                return (Self.status(.notFound, reason: "NotFound", message: "the server could not find \(path)"), 404)
            }
            let service = parts[4] + "/" + selector.dropFirst("kubernetes.io/service-name=".count)
            let (namespace, name) = Self.split(service)
            if query["watch"] == "true" {
                guard let since = query["resourceVersion"].flatMap(Int.init) else {
                    return (Self.status(.badRequest, reason: "BadRequest", message: "watch needs a resourceVersion"), 400)
                }
                if since < state.compactedBelow {
                    return (Self.status(.gone, reason: "Expired", message: "too old resource version: \(since)"), 410)
                }
                let replay = state.history.filter { $0.service == service && $0.resourceVersion > since }.map(\.line)
                state.watches[ObjectIdentifier(channel)] = Watch(service: service, channel: channel)
                return (.watch(replay: replay), 200)
            }
            let items = (state.slices[service] ?? [:]).values.sorted { $0.fixture.name < $1.fixture.name }.map {
                $0.fixture.object(namespace: namespace, service: name, resourceVersion: $0.version)
            }
            let list: [String: Any] = [
                "kind": "EndpointSliceList", "apiVersion": "discovery.k8s.io/v1",
                "metadata": ["resourceVersion": String(state.resourceVersion)],
                "items": items,
            ]
            if state.stallLists { return (.stalled(body: jsonLine(list)), 200) }
            return (.json(status: .ok, body: jsonLine(list)), 200)
        }
        requests.append(Request(path: path, query: query, authorization: authorization, status: status))
        return response
    }

    /// Lists or watches Ingresses: `/apis/networking.k8s.io/v1/ingresses` or `…/namespaces/NS/ingresses`.
    private static func ingresses(parts: [String], query: [String: String], channel: any Channel, state: inout State) -> (Response, Int) {
        let namespace: String
        if parts.count == 4, parts[3] == "ingresses" {
            namespace = "*"
        } else if parts.count == 6, parts[3] == "namespaces", parts[5] == "ingresses" {
            namespace = parts[4]
        } else {
            return (status(.notFound, reason: "NotFound", message: "the server could not find \(parts.joined(separator: "/"))"), 404)
        }
        let key = ingressKey(namespace)
        if query["watch"] == "true" {
            guard let since = query["resourceVersion"].flatMap(Int.init) else {
                return (status(.badRequest, reason: "BadRequest", message: "watch needs a resourceVersion"), 400)
            }
            if since < state.compactedBelow {
                return (status(.gone, reason: "Expired", message: "too old resource version: \(since)"), 410)
            }
            let replay = state.history.filter { watches($0.service, key) && $0.resourceVersion > since }.map(\.line)
            state.watches[ObjectIdentifier(channel)] = Watch(service: key, channel: channel)
            return (.watch(replay: replay), 200)
        }
        let items = state.ingresses.sorted { $0.key < $1.key }
            .filter { namespace == "*" || $0.value.fixture.namespace == namespace }
            .map { $0.value.fixture.object(resourceVersion: $0.value.version) }
        let list: [String: Any] = [
            "kind": "IngressList", "apiVersion": "networking.k8s.io/v1",
            "metadata": ["resourceVersion": String(state.resourceVersion)], "items": items,
        ]
        return (.json(status: .ok, body: jsonLine(list)), 200)
    }

    /// Whether a watch of `watched` sees events of `key`: its own, and every namespace's for a cluster-wide watch.
    private static func watches(_ key: String, _ watched: String) -> Bool {
        key == watched || (watched == ingressKey("*") && key.hasPrefix("ingresses:"))
    }

    fileprivate func connectionOpened(_ channel: any Channel) {
        state.withLock { $0.connections[ObjectIdentifier(channel)] = channel }
    }

    fileprivate func connectionClosed(_ channel: any Channel) {
        state.withLock { state in
            state.watches[ObjectIdentifier(channel)] = nil
            state.connections[ObjectIdentifier(channel)] = nil
        }
    }

    private static func status(_ status: HTTPResponseStatus, reason: String, message: String) -> Response {
        .json(status: status, body: jsonLine([
            "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason,
            "message": message, "code": Int(status.code),
        ]))
    }

    private static func channels(of service: String, in state: State) -> [any Channel] {
        state.watches.values.filter { watches(service, $0.service) }.map(\.channel)
    }

    private static func send(_ line: String, to channels: [any Channel]) {
        for channel in channels {
            channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: line + "\n"))), promise: nil)
        }
    }

    private static func split(_ service: String) -> (String, String) {
        let parts = service.split(separator: "/", maxSplits: 1).map(String.init)
        return (parts.first ?? "", parts.count > 1 ? parts[1] : "")
    }

    private static func parse(_ uri: String) -> (String, [String: String]) {
        guard let components = URLComponents(string: uri) else { return (uri, [:]) }
        var query: [String: String] = [:]
        for item in components.queryItems ?? [] { query[item.name] = item.value ?? "" }
        return (components.path, query)
    }
}

/// Lets the child channel initializer reach the server before `start` has finished building it.
private final class ServerBox: Sendable {
    let server = Mutex<FakeAPIServer?>(nil)
}

/// Answers one connection's requests from the fake server's state.
private final class APIHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let box: ServerBox
    private var head: HTTPRequestHead?

    init(server: ServerBox) {
        box = server
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head, let server = box.server.withLock({ $0 }) else { return }
            self.head = nil
            switch server.respond(to: head, channel: context.channel) {
            case .json(let status, let body):
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: "application/json")
                headers.add(name: "Content-Length", value: String(body.utf8.count))
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            case .stalled(let body):
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: "application/json")
                headers.add(name: "Content-Length", value: String(body.utf8.count))
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: String(body.prefix(10)))))), promise: nil)
            case .watch(let replay):
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: "application/json")
                headers.add(name: "Transfer-Encoding", value: "chunked")
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers))), promise: nil)
                // Written synchronously on the event loop, so they precede any live event, which reaches
                // the loop as a task queued behind this call.
                for line in replay {
                    context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: line + "\n")))), promise: nil)
                }
                context.flush()
            }
        }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        box.server.withLock({ $0 })?.connectionOpened(context.channel)
    }

    func channelInactive(context: ChannelHandlerContext) {
        box.server.withLock({ $0 })?.connectionClosed(context.channel)
        context.fireChannelInactive()
    }
}
