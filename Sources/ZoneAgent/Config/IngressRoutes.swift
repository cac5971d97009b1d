import Foundation
import KubernetesDiscovery
import Logging
import ServiceLifecycle
import Synchronization
import WeightTable

/// The gateway's routes from the Ingresses a watch reports (`routes.kubernetes`). Each Ingress is parsed on its own
/// by the same parser as an Ingress file; one that cannot be used (weights that do not sum to 100, an unknown
/// cluster) is refused, and the routes it had before keep serving until a good edit replaces them. Pure: the
/// caller logs and counts what `update` returns.
struct IngressRouteSet: Sendable {
    /// The routes of each Ingress as last accepted, by `NAMESPACE/NAME`.
    private(set) var accepted: [String: [RouteSpec]] = [:]
    /// The Ingresses whose current version is refused, and why.
    private(set) var refused: [String: RouteError] = [:]

    /// What one update changed in the refusals.
    struct Update: Sendable, Equatable {
        /// The routes in force: every Ingress's accepted routes, in `NAMESPACE/NAME` order, the first of two
        /// Ingresses that claim the same host and path winning.
        var routes: [RouteSpec]
        /// Ingresses refused by this update, with why.
        var newlyRefused: [String: RouteError]
        /// Refusals that ended: the Ingress was fixed or deleted.
        var cleared: [String: RouteError]
    }

    /// Takes the Ingresses of the class as they are now.
    mutating func update(_ ingresses: [WatchedIngress], knownClusters: Set<String>) -> Update {
        var newlyRefused: [String: RouteError] = [:]
        var cleared: [String: RouteError] = [:]
        let present = Set(ingresses.map(\.id))
        for (id, error) in refused where !present.contains(id) { cleared[id] = error }
        for id in accepted.keys where !present.contains(id) { accepted[id] = nil }
        for id in cleared.keys { refused[id] = nil }
        for ingress in ingresses {
            do {
                accepted[ingress.id] = try IngressParser.routes(fromYAML: ingress.manifest, source: "Ingress \(ingress.id)",
                                                                knownClusters: knownClusters)
                if let old = refused.removeValue(forKey: ingress.id) { cleared[ingress.id] = old }
            } catch {
                if refused[ingress.id] != error {
                    if let old = refused[ingress.id] { cleared[ingress.id] = old }
                    newlyRefused[ingress.id] = error
                }
                refused[ingress.id] = error
            }
        }
        var seen = Set<String>()
        var routes: [RouteSpec] = []
        for id in accepted.keys.sorted() {
            for route in accepted[id]! where seen.insert(route.id).inserted { routes.append(route) }
        }
        return Update(routes: routes, newlyRefused: newlyRefused, cleared: cleared)
    }
}

extension LiveReload {
    /// Watches the Ingresses of `settings.ingressClass` and puts their routes in force as they change.
    static func ingressService(_ settings: Config.KubernetesRoutes, mesh: MeshRuntime, loop: GatewayLoop) -> any Service {
        TaskService("ingress watch") {
            let connection: KubernetesConnection
            do {
                let environment = ProcessInfo.processInfo.environment
                connection = try KubernetesConnection.inCluster(
                    serviceAccountDirectory: environment["ZONE_AGENT_SERVICE_ACCOUNT_DIR"] ?? KubernetesConnection.serviceAccountDirectory)
            } catch {
                Daemon.exitWithConfigError(ConfigError(file: mesh.config.file, key: "routes.kubernetes", problem: "\(error)"))
            }
            let watcher = IngressWatcher(connection: connection, ingressClass: settings.ingressClass, namespaces: settings.namespaces,
                                         logger: mesh.logger)
            let set = IngressRouteBox()
            try await cancelWhenGracefulShutdown {
                try await watcher.run { ingresses in
                    let update = set.update(ingresses, knownClusters: Set(mesh.keys.currentRoster.clusters))
                    for error in update.cleared.values { ConfigRefusals.shared.note(ConfigError(error), refused: false) }
                    for (id, error) in update.newlyRefused.sorted(by: { $0.key < $1.key }) {
                        ZoneMetrics.configReload(applied: false)
                        ConfigRefusals.shared.note(ConfigError(error), refused: true)
                        mesh.logger.error("Ingress refused, its previous routes keep serving", metadata: [
                            "ingress": "\(id)", "key": "\(error.field)", "problem": "\(error.problem)",
                        ])
                    }
                    mesh.logger.notice("routes from the Kubernetes API", metadata: [
                        "ingresses": "\(ingresses.count)", "routes": "\(update.routes.map(\.id))",
                    ])
                    await loop.reconfigure(routes: update.routes)
                }
            }
        }
    }
}

/// The route set behind a lock, for the watch's callback.
private final class IngressRouteBox: Sendable {
    private let set = Mutex(IngressRouteSet())

    func update(_ ingresses: [WatchedIngress], knownClusters: Set<String>) -> IngressRouteSet.Update {
        set.withLock { $0.update(ingresses, knownClusters: knownClusters) }
    }
}
