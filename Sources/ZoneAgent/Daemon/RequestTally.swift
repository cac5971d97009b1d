import Synchronization
import WeightTable

/// How many requests the proxy sent to each cluster of each route, for the status page's chart of actual
/// shares: one relaxed atomic add per pick, on counters made once from the configured routes.
///
/// Counts are kept by the route's index in the table, which is the routes' canonical order (the same for every
/// table built from the same routes), so a pick needs no string built or hashed for its route.
final class RequestTally: Sendable {
    /// One cluster's count on one route.
    final class Count: Sendable {
        let value = Atomic<Int>(0)
    }

    /// Route ids in table order.
    let routeIDs: [String]
    /// Per route index, cluster → count; fixed at start, so a pick reads it without a lock.
    private let counts: [[String: Count]]

    init(routes: [RouteSpec]) {
        // The table's route order, taken from the builder itself rather than copied.
        let ordered = TableBuilder.build(TableInputs(routes: routes, members: [], digests: [], wallClockMillis: 0),
                                         state: TableState(), policy: TablePolicy(), now: .now).table.routes.map(\.spec)
        routeIDs = ordered.map(\.id)
        counts = ordered.map { route in Dictionary(uniqueKeysWithValues: route.clusters.map { ($0, Count()) }) }
    }

    /// Counts one request sent to `cluster` on the table's route `index` (one out of range is not counted).
    func count(route index: Int, cluster: String) {
        guard counts.indices.contains(index) else { return }
        counts[index][cluster]?.value.add(1, ordering: .relaxed)
    }

    /// Every count now, route id → cluster → requests since start.
    func snapshot() -> [String: [String: Int]] {
        var out: [String: [String: Int]] = [:]
        for (index, id) in routeIDs.enumerated() {
            out[id] = counts[index].mapValues { $0.value.load(ordering: .relaxed) }
        }
        return out
    }
}
