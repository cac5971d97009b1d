/// The table's memory between rebuilds: transition history, last good routes, version and recent changes.
///
/// The caller keeps it and passes it to the next `TableBuilder.build`; it is a plain value, so a test can
/// snapshot it, and two rebuilds from equal states and inputs give equal results.
public struct TableState: Sendable, Hashable {
    /// The version of the last table built.
    public internal(set) var version: UInt64 = 0
    /// The last table built, if any.
    public internal(set) var lastTable: RoutingTable?
    /// The recent weight changes, oldest first, at most `TablePolicy.changeHistoryLimit`.
    public internal(set) var changes: [WeightChange] = []
    /// The changes the last build made, for the shell to log and count as metrics.
    public internal(set) var latestChanges: [WeightChange] = []
    /// When the table will next change by the passage of time alone (a hold-down ending or a ramp step);
    /// nil when nothing is in flight. A shell that rebuilds only on new digests should also rebuild then.
    public internal(set) var nextRebuildAt: ContinuousClock.Instant?
    /// The wall-clock millisecond (since the Unix epoch) at which the next digest that vouches now outlives its
    /// lease (`TablePolicy.digestLease`), or an operator's drain in force ends; nil when neither. The table changes then with
    /// no new input, so a shell should rebuild at that moment too.
    public internal(set) var nextLeaseExpiryMillis: UInt64?
    /// The live members whose digests outlived the lease at the last build, sorted: they vouch for nothing.
    public internal(set) var expiredOrigins: [String] = []

    var clusters: [HistoryKey: ClusterHistory] = [:]
    var lastGood: [String: RouteEntry] = [:]

    /// A fresh state: no history, so every cluster seen live at once takes traffic at once.
    public init() {}

    struct HistoryKey: Hashable {
        var route: String
        var cluster: String
    }

    struct ClusterHistory: Hashable {
        /// Since when the cluster has been able to serve without interruption; nil while it cannot.
        var liveSince: ContinuousClock.Instant?
        /// Whether it has ever served on this route: a first sighting is not a failback and is not damped.
        var hasBeenLive = false
        /// Whether it is recovering from a failure (held down, then ramping).
        var damped = false
        /// The effective weight it had in the last table, to detect and record changes.
        var effectiveWeight = 0
    }
}
