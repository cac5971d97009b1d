import Synchronization
import WeightTable

/// What the gateway keeps for its status page and metrics beyond the table itself: when it started, the
/// requests the proxy sent per route and cluster, the sampled shares, and the classified routing events.
struct GatewayStatus: Sendable {
    let startedAtMillis: UInt64
    let tally: RequestTally
    let history: ShareHistory
    let events: RoutingEvents
    /// The table's vouching rule lets suspect members vouch: the status page counts their word then.
    let suspectsVouch: Bool

    init(routes: [RouteSpec], startedAtMillis: UInt64, suspectsVouch: Bool = false) {
        self.startedAtMillis = startedAtMillis
        self.suspectsVouch = suspectsVouch
        tally = RequestTally(routes: routes)
        history = ShareHistory()
        events = RoutingEvents()
    }

    /// Samples the shares every ``ShareHistory/interval`` until cancelled.
    func sampleShares(table: @Sendable () -> RoutingTable) async throws {
        while !Task.isCancelled {
            sampleNow(table())
            try await Task.sleep(for: ShareHistory.interval)
        }
    }

    /// One sample of `table` and the requests counted since the last sample.
    func sampleNow(_ table: RoutingTable) {
        history.sample(table, counts: tally.snapshot(), atMillis: wallClockMillis())
    }
}

/// The gateway's ``RoutingChangeLog``, shared between the rebuild that writes it and the status page that
/// reads it.
final class RoutingEvents: Sendable {
    private let log = Mutex(RoutingChangeLog())

    init() {}

    /// Classifies and records one rebuild's changes, counts them as metrics, and returns them classified.
    @discardableResult
    func record(_ changes: [WeightChange], in table: RoutingTable) -> [(change: WeightChange, kind: RoutingChangeKind)] {
        log.withLock { $0.record(changes, in: table) }
    }

    var entries: [RoutingChangeLog.Entry] { log.withLock { $0.entries } }
}
