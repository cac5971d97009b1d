import AsyncHTTPClient
import Logging
import NIOCore
import Synchronization

/// Lists and watches the networking.k8s.io/v1 Ingresses of one class, in some namespaces or in all, and reports
/// them whenever they change: the gateway's routes, live from `kubectl apply`. The same list-and-watch loop as the
/// EndpointSlice watcher (``ListWatch``): resume, relist on 410 Gone, backoff on every other failure.
public final class IngressWatcher: Sendable {
    private let connection: KubernetesConnection
    private let ingressClass: String
    private let namespaces: [String]
    private let settings: EndpointSliceWatcher.Settings
    private let logger: Logger

    /// - Parameters:
    ///   - ingressClass: only Ingresses of this class count (`spec.ingressClassName`, or the older annotation).
    ///   - namespaces: where to watch; empty: every namespace (one cluster-wide watch).
    public init(
        connection: KubernetesConnection, ingressClass: String, namespaces: [String],
        settings: EndpointSliceWatcher.Settings = .init(), logger: Logger
    ) {
        var seen = Set<String>()
        self.connection = connection
        self.ingressClass = ingressClass
        self.namespaces = namespaces.filter { seen.insert($0).inserted }
        self.settings = settings
        self.logger = logger
    }

    /// Watches until the task is cancelled, calling `onChange` with every Ingress of the class, sorted by
    /// `NAMESPACE/NAME`, once each watched namespace has been listed and whenever one changes. Calls never
    /// overlap; changes that arrive during one are coalesced into the next. Throws only when the CA bundle cannot
    /// be loaded at start.
    public func run(onChange: @Sendable ([WatchedIngress]) async -> Void) async throws {
        var tls = try connection.tlsConfiguration()
        tls.shutdownTimeout = .seconds(2)
        let configuration = HTTPClient.Configuration(
            tlsConfiguration: tls,
            redirectConfiguration: .disallow,  // never carry the bearer token to another host
            timeout: .init(
                connect: ListWatch<Ingress>.timeAmount(settings.requestTimeout),
                read: ListWatch<Ingress>.timeAmount(settings.idleTimeout)))
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)

        let scopes = namespaces.isEmpty ? [nil] : namespaces.map { Optional($0) }
        let box = LatestLists<String, WatchedIngress>()
        let (changes, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let ingressClass = self.ingressClass
        await withTaskGroup(of: Void.self) { group in
            for scope in scopes {
                let loop = self.loop(namespace: scope)
                group.addTask {
                    await loop.run(client: client) { objects in
                        let ofClass = objects.values.filter { $0.ingressClass == ingressClass }.map(WatchedIngress.init)
                        if box.set(ofClass.sorted { $0.id < $1.id }, for: scope ?? "") { signal.yield() }
                    }
                }
            }
            var delivered: [WatchedIngress]?
            for await _ in changes {
                // Nothing until every scope is listed: a partial set would drop the routes of the others.
                let all = box.current
                let (listed, current) = (all.count, all.values.joined().sorted { $0.id < $1.id })
                guard listed == scopes.count, current != delivered else { continue }
                delivered = current
                await onChange(current)
            }
            group.cancelAll()
        }
        signal.finish()
        try? await client.shutdown()
    }

    private func loop(namespace: String?) -> ListWatch<Ingress> {
        var logger = self.logger
        logger[metadataKey: "ingress_namespace"] = "\(namespace ?? "*")"
        let path = namespace.map { "/apis/networking.k8s.io/v1/namespaces/\(ListWatch<Ingress>.queryEscaped($0))/ingresses" }
            ?? "/apis/networking.k8s.io/v1/ingresses"
        return ListWatch<Ingress>(connection: connection, settings: settings, path: path, selector: "", what: "ingresses",
                                  logger: logger, observe: { _ in })
    }
}

