import WeightTable

/// What a change of a cluster's effective weight was, for the metrics and the status page: a failover or a
/// failback is one event, however many slow-start steps follow it.
enum RoutingChangeKind: String, Sendable, CaseIterable {
    /// A cluster that served lost its whole share because it failed.
    case failover
    /// A cluster that had served before took a share again (the first step of its slow start, or its whole
    /// share when there is no damping).
    case failback
    /// A further step of a slow start, or another cluster's share moving because of one.
    case slowStart = "slow_start"
    /// A cluster took a share for the first time since the gateway started (not a recovery).
    case initial
    /// Anything else: partial capacity, a share moving to or from a cluster that failed or came back, a
    /// configured weight.
    case rebalance
}

/// The gateway's routing events, newest last: each change classified, and a failback with all the slow-start
/// steps of its route folded into one entry. A pure value: the rebuild feeds it each table's changes.
struct RoutingChangeLog: Sendable {
    /// One line of the log: a single change, or a failback and the steps that followed it.
    struct Entry: Sendable, Equatable {
        var kind: RoutingChangeKind
        var route: String
        var cluster: String
        var from: Int
        var to: Int
        var reason: String
        var atMillis: UInt64
        /// When the last folded change happened (equal to `atMillis` for a single change).
        var untilMillis: UInt64
        /// Changes folded into this entry: on a failback, the slow-start steps (every cluster's, on this route);
        /// on a failover, the other clusters of the route taking its share.
        var folded: Int = 0
    }

    /// Entries kept for the status page; past this the oldest go (about a day of a cluster flapping every
    /// quarter of an hour on a few routes, or one big incident on every route).
    static let limit = 200

    private(set) var entries: [Entry] = []
    /// (route, cluster) pairs that have had a share since start: a later 0 → share is a failback.
    private var served: Set<RouteCluster> = []
    /// Per route, the index in `entries` of the failback whose slow start is still running.
    private var ramping: [String: Int] = [:]

    struct RouteCluster: Hashable, Sendable {
        var route: String
        var cluster: String
    }

    /// Classifies the changes one rebuild made, against the table it made, and records them; returns each
    /// change with its kind. Call it for every table published, changes or not: it learns from each which
    /// clusters have served. A cluster's return is taken before the other changes of its rebuild, so the share
    /// the others give up to it folds into its entry.
    @discardableResult
    mutating func record(_ changes: [WeightChange], in table: RoutingTable) -> [(change: WeightChange, kind: RoutingChangeKind)] {
        // Losses first, then returns, then the shares that move because of them, so that those fold into the
        // return's entry.
        let ordered = changes.filter { $0.to == 0 } + changes.filter { $0.from == 0 && $0.to != 0 } + changes.filter { $0.from != 0 && $0.to != 0 }
        var classified: [(change: WeightChange, kind: RoutingChangeKind)] = []
        for change in ordered {
            let route = table.routes.first { $0.spec.id == change.route }
            let state = route?.clusters.first { $0.cluster == change.cluster }?.state
            let recovering = route?.clusters.contains { $0.state == .recovering } ?? false
            let key = RouteCluster(route: change.route, cluster: change.cluster)
            let kind: RoutingChangeKind
            if change.from > 0 && change.to == 0 && (state == .failed || state == .drained) {
                kind = .failover
            } else if change.from == 0 && change.to > 0 {
                kind = served.contains(key) ? .failback : .initial
            } else if change.from > 0 && change.to > 0 && (recovering || ramping[change.route] != nil) {
                // A step of a slow start, or its last one: the recovering cluster reaches its share and the
                // others settle.
                kind = .slowStart
            } else {
                kind = .rebalance
            }
            classified.append((change, kind))
            append(change, kind: kind)
        }
        // Every cluster with a share now has served, including those whose first share was not a change (the
        // first table of a route records none).
        for route in table.routes {
            for cluster in route.clusters where cluster.effectiveWeight > 0 {
                served.insert(RouteCluster(route: route.spec.id, cluster: cluster.cluster))
            }
        }
        // A route with nothing recovering has finished its ramp: a later change there is not part of it.
        for routeID in ramping.keys where !(table.routes.first { $0.spec.id == routeID }?.clusters.contains { $0.state == .recovering } ?? false) {
            ramping.removeValue(forKey: routeID)
        }
        return classified
    }

    private mutating func append(_ change: WeightChange, kind: RoutingChangeKind) {
        if kind == .slowStart, let index = ramping[change.route], entries.indices.contains(index) {
            entries[index].folded += 1
            entries[index].untilMillis = change.atMillis
            if change.cluster == entries[index].cluster {
                entries[index].to = change.to
                entries[index].reason = change.reason
            }
            return
        }
        // The others taking a failed cluster's share, in the same rebuild, belong to its failover.
        if kind == .rebalance, change.to > change.from,
           let index = entries.lastIndex(where: { $0.atMillis == change.atMillis && $0.route == change.route && $0.kind == .failover }) {
            entries[index].folded += 1
            return
        }
        entries.append(Entry(kind: kind, route: change.route, cluster: change.cluster, from: change.from, to: change.to,
                             reason: change.reason, atMillis: change.atMillis, untilMillis: change.atMillis))
        if kind == .failback { ramping[change.route] = entries.count - 1 }
        if entries.count > Self.limit {
            let drop = entries.count - Self.limit
            entries.removeFirst(drop)
            ramping = ramping.compactMapValues { $0 >= drop ? $0 - drop : nil }
        }
    }
}
