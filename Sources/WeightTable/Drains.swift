import Wire

/// An operator's drain order as the table reads it: the signed record's content and who signed it.
public struct OperatorDrain: Sendable, Hashable {
    public var record: DrainRecord
    /// The operator key's id, for the reason ("drained by operator KEYID until TIME").
    public var operatorKeyID: String

    public init(record: DrainRecord, operatorKeyID: String) {
        self.record = record
        self.operatorKeyID = operatorKeyID
    }
}

/// Which drain holds a cluster on a route at one wall-clock instant: pure, so every gateway holding the same orders
/// agrees at the same instant, whatever order it received them in.
///
/// Of the orders that cover (cluster, route), the one for the route and the one for every route (`route` empty),
/// the newest decides: a drain holds while it has not ended; an undrain holds nothing. So `undrain --cluster c2`
/// also ends an older drain of c2 on one route, and a newer drain of one route holds beside an older one of all.
enum Drains {
    static func inForce(cluster: String, route: String, in drains: [OperatorDrain], nowMillis: UInt64) -> OperatorDrain? {
        var newest: OperatorDrain?
        for d in drains where d.record.cluster == cluster && (d.record.route.isEmpty || d.record.route == route) {
            if let held = newest, !supersedes(d, held) { continue }
            newest = d
        }
        guard let newest, newest.record.isInForce(atMillis: nowMillis) else { return nil }
        return newest
    }

    /// The newest by issue, then end, then the target and the key id: a total order, so duplicates and order of
    /// arrival cannot change the pick.
    static func supersedes(_ a: OperatorDrain, _ b: OperatorDrain) -> Bool {
        let ka = (a.record.issuedAtMillis, a.record.untilMillis, a.record.route, a.operatorKeyID)
        let kb = (b.record.issuedAtMillis, b.record.untilMillis, b.record.route, b.operatorKeyID)
        return ka > kb
    }

    /// The earliest end after `nowMillis` of a drain in force, when the table changes with no new input.
    static func nextEnd(_ drains: [OperatorDrain], nowMillis: UInt64) -> UInt64? {
        drains.filter { $0.record.isInForce(atMillis: nowMillis) }.map(\.record.untilMillis).min()
    }

    /// "drained by operator KEYID until TIME".
    static func reason(_ drain: OperatorDrain) -> String {
        "drained by operator \(drain.operatorKeyID) until \(Timestamp.iso8601(millis: drain.record.untilMillis))"
    }
}

extension RoutingTable {
    /// Whether every cluster that `drains` hold on a route at `nowMillis` is drained in this table: a (re)started
    /// gateway checks it before it takes traffic, so its first table is not one built before it learned the orders.
    public func holds(_ drains: [OperatorDrain], nowMillis: UInt64) -> Bool {
        routes.allSatisfy { route in
            route.clusters.allSatisfy { entry in
                entry.state == .drained || Drains.inForce(cluster: entry.cluster, route: route.spec.id, in: drains, nowMillis: nowMillis) == nil
            }
        }
    }
}
