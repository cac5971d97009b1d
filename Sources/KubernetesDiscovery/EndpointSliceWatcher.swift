import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import Synchronization

/// Something that happened while discovering, for metrics, logs and tests; endpoints travel through `onChange`.
public enum DiscoveryEvent: Sendable, Equatable {
    /// A list succeeded: the service's slices as of `resourceVersion`.
    case listed(ServiceRef, resourceVersion: String, slices: Int)
    /// A watch request was answered and its stream is open.
    case watching(ServiceRef, resourceVersion: String)
    /// The API server forgot the resourceVersion (410 Gone): the service will be listed again at once.
    case relisting(ServiceRef)
    /// A request or stream failed; the watcher retries after `delay`.
    case retrying(ServiceRef, error: KubernetesDiscoveryError, delay: Duration)
}

/// Lists and watches the EndpointSlices of some Services and reports their endpoints as they change.
///
/// For each Service it lists the slices labelled `kubernetes.io/service-name`, then watches from the
/// list's resourceVersion. It resumes a broken watch from the last resourceVersion it saw, lists again
/// when the API server answers 410 Gone, and retries every other failure with ``Backoff``, so a flaky
/// API server or a bad token is logged and retried, never fatal. Only candidates are reported (see
/// ``DiscoveredEndpoint/isCandidate``).
public final class EndpointSliceWatcher: Sendable {
    /// Timeouts, limits and retry policy.
    public struct Settings: Sendable {
        /// The retry policy after failures.
        public var backoff: Backoff
        /// How long a watch lasts before the API server ends it (`timeoutSeconds`); each watch draws
        /// from one to two times this, so agents that started together do not reconnect together.
        public var watchTimeout: Duration
        /// The time allowed for a whole list request, and for a watch request to connect and receive its head.
        public var requestTimeout: Duration
        /// The longest silence accepted while reading a response before the connection counts as dead.
        ///
        /// A peer that vanishes without closing the connection would otherwise leave a watch that looks
        /// open and reports nothing until the watch timeout. The API server sends watches that ask for
        /// bookmarks one about every minute, so a healthy watch rarely stays silent this long, and one
        /// that does is merely resumed from its resourceVersion.
        public var idleTimeout: Duration
        /// The longest watch event accepted, in bytes.
        public var maxLineBytes: Int
        /// The longest list response accepted, in bytes.
        public var maxListBytes: Int
        /// Makes the random source for jitter; one per service, so tests can make it deterministic.
        public var makeRandomNumberGenerator: @Sendable () -> any RandomNumberGenerator

        /// Creates settings; the defaults suit a production cluster.
        public init(
            backoff: Backoff = Backoff(), watchTimeout: Duration = .seconds(300),
            requestTimeout: Duration = .seconds(30), idleTimeout: Duration = .seconds(120),
            maxLineBytes: Int = 4 << 20, maxListBytes: Int = 32 << 20,
            makeRandomNumberGenerator: @escaping @Sendable () -> any RandomNumberGenerator = {
                SystemRandomNumberGenerator()
            }
        ) {
            self.backoff = backoff
            self.watchTimeout = watchTimeout
            self.requestTimeout = requestTimeout
            self.idleTimeout = idleTimeout
            self.maxLineBytes = maxLineBytes
            self.maxListBytes = maxListBytes
            self.makeRandomNumberGenerator = makeRandomNumberGenerator
        }
    }

    private let connection: KubernetesConnection
    private let services: [ServiceRef]
    private let port: PortSelector
    private let settings: Settings
    private let logger: Logger
    private let observer: (@Sendable (DiscoveryEvent) -> Void)?

    /// Creates a watcher; nothing happens until ``run(onChange:)``.
    ///
    /// - Parameters:
    ///   - connection: The API server and credentials.
    ///   - services: The Services to watch; duplicates are ignored.
    ///   - port: Which slice port the endpoints are reached on.
    ///   - settings: Timeouts, limits and retry policy.
    ///   - logger: Where failures and relists are logged.
    ///   - observer: Called synchronously for every ``DiscoveryEvent``, possibly from several tasks at once; keep it quick.
    public init(
        connection: KubernetesConnection, services: [ServiceRef], port: PortSelector = .first,
        settings: Settings = Settings(), logger: Logger, observer: (@Sendable (DiscoveryEvent) -> Void)? = nil
    ) {
        var seen = Set<ServiceRef>()
        self.connection = connection
        self.services = services.filter { seen.insert($0).inserted }
        self.port = port
        self.settings = settings
        self.logger = logger
        self.observer = observer
    }

    /// Watches until the task is cancelled, calling `onChange` with every service's endpoints whenever they change.
    ///
    /// A service appears in the dictionary once it has been listed; an empty array means it was listed
    /// and has no candidate endpoint, which is different from not knowing yet. Calls to `onChange`
    /// never overlap, and changes that arrive while it runs are coalesced into the next call.
    /// Returns when cancelled; throws only when the CA bundle cannot be loaded at start.
    public func run(onChange: @Sendable ([ServiceRef: [DiscoveredEndpoint]]) async -> Void) async throws {
        var tls = try connection.tlsConfiguration()
        // A stopping agent should not wait the default 5 s for a server that never answers close_notify.
        tls.shutdownTimeout = .seconds(2)
        let configuration = HTTPClient.Configuration(
            tlsConfiguration: tls,
            redirectConfiguration: .disallow,  // never carry the bearer token to another host
            timeout: .init(
                connect: Self.timeAmount(settings.requestTimeout), read: Self.timeAmount(settings.idleTimeout)))
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)

        let snapshots = SnapshotBox()
        let (changes, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        await withTaskGroup(of: Void.self) { group in
            for service in services {
                group.addTask {
                    await self.watchForever(service, client: client) { endpoints in
                        if snapshots.set(endpoints, for: service) { signal.yield() }
                    }
                }
            }
            var delivered: [ServiceRef: [DiscoveredEndpoint]]? = nil
            for await _ in changes {
                let current = snapshots.current
                guard current != delivered else { continue }
                delivered = current
                await onChange(current)
            }
            group.cancelAll()
        }
        signal.finish()
        try? await client.shutdown()
    }

    // MARK: - One service

    /// What the watcher knows about one service between requests.
    struct ServiceState {
        var slices: [String: EndpointSlice] = [:]
        /// Nil until listed, and again after 410 Gone: the next round lists instead of watching.
        var resourceVersion: String?
        /// Failures since the watch last made progress; a successful list alone is not progress, so a
        /// server that answers every fresh watch with 410 is relisted with growing delays.
        var failures = 0
    }

    private func watchForever(
        _ service: ServiceRef, client: HTTPClient, publish: @Sendable ([DiscoveredEndpoint]) -> Void
    ) async {
        var generator = settings.makeRandomNumberGenerator()
        var state = ServiceState()
        var logger = self.logger
        logger[metadataKey: "service"] = "\(service)"
        while !Task.isCancelled {
            var delay = Duration.zero
            do {
                if state.resourceVersion == nil {
                    try await list(service, client: client, into: &state, publish: publish, logger: logger)
                }
                let started = ContinuousClock.now
                let events = try await watch(
                    service, client: client, into: &state, generator: &generator, publish: publish, logger: logger)
                // A watch that the server closes at once, again and again, must not become a busy loop.
                if events == 0, ContinuousClock.now - started < .seconds(1) {
                    state.failures += 1
                    delay = settings.backoff.delay(afterFailures: state.failures, using: &generator)
                } else {
                    state.failures = 0
                }
            } catch {
                // Cancellation surfaces as a transport error from the HTTP client; it is not a failure.
                if Task.isCancelled { return }
                state.failures += 1
                if case .resourceVersionExpired = error {
                    state.resourceVersion = nil
                    logger.info("resourceVersion expired; listing again", metadata: ["error": "\(error)"])
                    observer?(.relisting(service))
                    // The first 410 relists at once; only repeated ones in a row wait.
                    delay = settings.backoff.delay(afterFailures: state.failures - 1, using: &generator)
                } else {
                    delay = settings.backoff.delay(afterFailures: state.failures, using: &generator)
                    logger.warning(
                        "endpoint discovery failed; retrying",
                        metadata: ["error": "\(error)", "retry_in": "\(delay)", "failures": "\(state.failures)"])
                    observer?(.retrying(service, error: error, delay: delay))
                }
            }
            if delay > .zero {
                do { try await Task.sleep(for: delay) } catch { return }
            }
        }
    }

    private func list(
        _ service: ServiceRef, client: HTTPClient, into state: inout ServiceState,
        publish: @Sendable ([DiscoveredEndpoint]) -> Void, logger: Logger
    ) async throws(KubernetesDiscoveryError) {
        let list = try await fetchList(service, client: client)
        guard let version = list.metadata.resourceVersion, !version.isEmpty else {
            throw .malformedResponse("the list has no metadata.resourceVersion to watch from")
        }
        var slices: [String: EndpointSlice] = [:]
        for slice in list.items ?? [] {
            guard !slice.name.isEmpty else { throw .malformedResponse("a listed EndpointSlice has no name") }
            slices[slice.name] = slice
        }
        state.slices = slices
        state.resourceVersion = version
        logger.debug("listed endpoint slices", metadata: ["resource_version": "\(version)", "slices": "\(slices.count)"])
        observer?(.listed(service, resourceVersion: version, slices: slices.count))
        publish(EndpointSelection.endpoints(of: service, slices: slices.values, port: port))
    }

    /// Requests, reads and decodes one list, all within the request timeout.
    ///
    /// The HTTP client's deadline ends once the response head has arrived, so without this limit a
    /// server that trickles a list body would hold the service's discovery for the read timeout.
    private func fetchList(_ service: ServiceRef, client: HTTPClient) async throws(KubernetesDiscoveryError)
        -> EndpointSliceList
    {
        let limit = settings.requestTimeout
        do {
            return try await withThrowingTaskGroup(of: EndpointSliceList.self) { group in
                group.addTask { try await self.requestList(service, client: client) }
                group.addTask {
                    try await Task.sleep(for: limit)
                    throw KubernetesDiscoveryError.transport("the list request took longer than \(limit)")
                }
                defer { group.cancelAll() }
                guard let list = try await group.next() else { throw CancellationError() }
                return list
            }
        } catch {
            throw transportError(error)
        }
    }

    private func requestList(_ service: ServiceRef, client: HTTPClient) async throws(KubernetesDiscoveryError)
        -> EndpointSliceList
    {
        let path = Self.collectionPath(service)
        let response = try await send(path + Self.selector(service), client: client)
        guard response.status.code == 200 else { throw await Self.statusError(response, path: path) }
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: settings.maxListBytes)
        } catch is NIOTooManyBytesError {
            throw .responseTooLarge(limit: settings.maxListBytes)
        } catch {
            throw transportError(error)
        }
        return try JSONDecoder().decodeKubernetes(EndpointSliceList.self, from: Data(body.readableBytesView))
    }

    /// Watches from `state.resourceVersion` until the stream ends; returns how many events it applied.
    private func watch(
        _ service: ServiceRef, client: HTTPClient, into state: inout ServiceState,
        generator: inout some RandomNumberGenerator, publish: @Sendable ([DiscoveredEndpoint]) -> Void,
        logger: Logger
    ) async throws(KubernetesDiscoveryError) -> Int {
        guard let version = state.resourceVersion else { return 0 }
        let base = Backoff.seconds(settings.watchTimeout)
        let timeout = max(1, Int(Double.random(in: base...(2 * base), using: &generator)))
        let path = Self.collectionPath(service)
        let query = Self.selector(service) + "&watch=true&allowWatchBookmarks=true"
            + "&resourceVersion=\(Self.queryEscaped(version))&timeoutSeconds=\(timeout)"
        let response = try await send(path + query, client: client)
        if response.status.code == 410 { throw .resourceVersionExpired(version) }
        guard response.status.code == 200 else { throw await Self.statusError(response, path: path) }
        logger.debug("watching endpoint slices", metadata: ["resource_version": "\(version)", "timeout_seconds": "\(timeout)"])
        observer?(.watching(service, resourceVersion: version))

        var decoder = WatchEventDecoder(maxLineBytes: settings.maxLineBytes)
        var applied = 0
        func apply(_ event: WatchEvent) throws(KubernetesDiscoveryError) {
            try Self.apply(event, to: &state)
            applied += 1
            // Progress: a later failure starts the backoff from the beginning again.
            state.failures = 0
            switch event {
            case .added, .modified, .deleted:
                publish(EndpointSelection.endpoints(of: service, slices: state.slices.values, port: port))
            case .bookmark, .error:
                break
            }
        }
        do {
            for try await chunk in response.body {
                for event in try decoder.feed(chunk) { try apply(event) }
            }
        } catch let error as KubernetesDiscoveryError {
            throw error
        } catch {
            throw transportError(error)
        }
        if let last = try decoder.finish() { try apply(last) }
        return applied
    }

    /// Applies one event to the known slices, or throws for an `ERROR` event.
    static func apply(_ event: WatchEvent, to state: inout ServiceState) throws(KubernetesDiscoveryError) {
        switch event {
        case .added(let slice), .modified(let slice):
            guard !slice.name.isEmpty else { throw .malformedResponse("a watched EndpointSlice has no name") }
            state.slices[slice.name] = slice
            if let version = slice.metadata.resourceVersion { state.resourceVersion = version }
        case .deleted(let slice):
            state.slices[slice.name] = nil
            if let version = slice.metadata.resourceVersion { state.resourceVersion = version }
        case .bookmark(let version):
            state.resourceVersion = version
        case .error(let status):
            if status.code == 410 { throw .resourceVersionExpired(state.resourceVersion ?? "") }
            throw .watchError(code: status.code ?? 0, message: status.message ?? status.reason ?? "no message")
        }
    }

    // MARK: - HTTP

    private func send(_ pathAndQuery: String, client: HTTPClient) async throws(KubernetesDiscoveryError)
        -> HTTPClientResponse
    {
        var request = HTTPClientRequest(url: connection.baseURL + pathAndQuery)
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "zone-agent")
        if let token = try connection.readToken() {
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        do {
            return try await client.execute(request, timeout: Self.timeAmount(settings.requestTimeout))
        } catch {
            throw transportError(error)
        }
    }

    private static func statusError(_ response: HTTPClientResponse, path: String) async -> KubernetesDiscoveryError {
        // The body of an error is a Status; read a bounded amount of it for the message, no more.
        var message = ""
        if let body = try? await response.body.collect(upTo: 64 << 10),
           let status = try? JSONDecoder().decode(Status.self, from: Data(body.readableBytesView)) {
            message = status.message ?? status.reason ?? ""
        }
        return .httpStatus(code: Int(response.status.code), path: path, message: message)
    }

    private func transportError(_ error: any Error) -> KubernetesDiscoveryError {
        if let error = error as? KubernetesDiscoveryError { return error }
        if let error = error as? HTTPClientError {
            switch error {
            case .readTimeout:
                return .transport("\(connection.baseURL) sent nothing for \(settings.idleTimeout); the connection is presumed dead")
            case .connectTimeout, .deadlineExceeded:
                return .transport("no answer from \(connection.baseURL) within \(settings.requestTimeout)")
            case .remoteConnectionClosed:
                return .transport("\(connection.baseURL) closed the connection")
            default:
                break
            }
        }
        return .transport("\(error) (\(connection.baseURL))")
    }

    private static func collectionPath(_ service: ServiceRef) -> String {
        "/apis/discovery.k8s.io/v1/namespaces/\(queryEscaped(service.namespace))/endpointslices"
    }

    private static func selector(_ service: ServiceRef) -> String {
        "?labelSelector=" + queryEscaped("kubernetes.io/service-name=\(service.name)")
    }

    private static func queryEscaped(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    private static func timeAmount(_ duration: Duration) -> TimeAmount {
        .nanoseconds(Int64(Backoff.seconds(duration) * 1e9))
    }
}

/// The latest endpoints of every listed service, shared between the per-service tasks and the reporter.
private final class SnapshotBox: Sendable {
    private let state = Mutex<[ServiceRef: [DiscoveredEndpoint]]>([:])

    /// Stores a service's endpoints; true when they differ from what was stored.
    func set(_ endpoints: [DiscoveredEndpoint], for service: ServiceRef) -> Bool {
        state.withLock { all in
            if all[service] == endpoints { return false }
            all[service] = endpoints
            return true
        }
    }

    var current: [ServiceRef: [DiscoveredEndpoint]] { state.withLock { $0 } }
}
