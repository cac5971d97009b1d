import Synchronization
import WeightTable

/// How many requests the proxy sent to each cluster of each route, for the status page's chart of actual
/// shares: one relaxed atomic add per pick.
///
/// Each published table gets its routes' counters once, index for index (``counters(for:)``), so a pick finds
/// its counter without building or hashing a route name; the counters live on across tables and reloads, keyed
/// by route id and cluster.
final class RequestTally: Sendable {
    /// One cluster's count on one route.
    final class Count: Sendable {
        let value = Atomic<Int>(0)
    }

    /// Route id → cluster → count, made the first time a table names them.
    private let known = Mutex<[String: [String: Count]]>([:])

    /// A tally with counters for `routes` already there, so the chart shows them at 0 from the start.
    init(routes: [RouteSpec] = []) {
        known.withLock { known in
            for route in routes {
                for cluster in route.clusters where known[route.id]?[cluster] == nil { known[route.id, default: [:]][cluster] = Count() }
            }
        }
    }

    /// The counters of `table`'s routes, in the table's route order: per route, cluster → count.
    func counters(for table: RoutingTable) -> [[String: Count]] {
        known.withLock { known in
            table.routes.map { route in
                let id = route.spec.id
                for cluster in route.spec.clusters where known[id]?[cluster] == nil { known[id, default: [:]][cluster] = Count() }
                return known[id] ?? [:]
            }
        }
    }

    /// Every count now, route id → cluster → requests since start.
    func snapshot() -> [String: [String: Int]] {
        known.withLock { known in known.mapValues { $0.mapValues { $0.value.load(ordering: .relaxed) } } }
    }
}
