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

        let snapshots = LatestLists<ServiceRef, DiscoveredEndpoint>()
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
    typealias ServiceState = ListWatchState<EndpointSlice>

    private func watchForever(
        _ service: ServiceRef, client: HTTPClient, publish: @Sendable @escaping ([DiscoveredEndpoint]) -> Void
    ) async {
        var logger = self.logger
        logger[metadataKey: "service"] = "\(service)"
        let observer = self.observer
        let port = self.port
        let loop = ListWatch<EndpointSlice>(
            connection: connection, settings: settings,
            path: "/apis/discovery.k8s.io/v1/namespaces/\(ListWatch<EndpointSlice>.queryEscaped(service.namespace))/endpointslices",
            selector: "?labelSelector=" + ListWatch<EndpointSlice>.queryEscaped("kubernetes.io/service-name=\(service.name)"),
            what: "endpoint slices", logger: logger,
            observe: { event in
                switch event {
                case .listed(let version, let count): observer?(.listed(service, resourceVersion: version, slices: count))
                case .watching(let version): observer?(.watching(service, resourceVersion: version))
                case .relisting: observer?(.relisting(service))
                case .retrying(let error, let delay): observer?(.retrying(service, error: error, delay: delay))
                }
            })
        await loop.run(client: client) { slices in
            publish(EndpointSelection.endpoints(of: service, slices: slices.values, port: port))
        }
    }

    /// Applies one event to the known slices, or throws for an `ERROR` event.
    static func apply(_ event: WatchEvent, to state: inout ServiceState) throws(KubernetesDiscoveryError) {
        try ListWatch<EndpointSlice>.apply(event, to: &state)
    }

    private static func timeAmount(_ duration: Duration) -> TimeAmount { ListWatch<EndpointSlice>.timeAmount(duration) }
}

extension ListWatchState where Object == EndpointSlice {
    /// The slices by name (one service's slices live in one namespace).
    var slices: [String: EndpointSlice] {
        Dictionary(objects.values.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }
}

