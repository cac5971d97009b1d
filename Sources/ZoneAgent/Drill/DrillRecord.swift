/// What a drill records while it runs: every request of the stream, the gateway's table every 100 ms, and the
/// moments the drill acted. Times are milliseconds since the drill's clock started, so a report reads the same
/// wherever it was made.
struct DrillRecord: Sendable, Codable {
    /// One request of the open-loop stream.
    struct Request: Sendable, Codable, Hashable {
        /// When it was sent.
        var sentMs: Int
        /// How long until it was answered (or failed).
        var latencyMs: Double
        /// The cluster the gateway says served it (`x-zone-cluster`), nil when it failed.
        var cluster: String?
        /// `200`, another status (`503`), or `error: …`.
        var outcome: String
        /// The cluster the request was pinned to by the pin header (`pin`); nil, not pinned.
        var pin: String? = nil

        var ok: Bool { outcome == "200" }
        var endMs: Double { Double(sentMs) + latencyMs }
    }

    /// The gateway's table as sampled: each cluster's effective weight on the drilled route, and its reason.
    struct TableSample: Sendable, Codable, Hashable {
        /// When the sample was taken.
        var atMs: Int
        var weights: [String: Int]
        var reasons: [String: String]
        /// When the gateway built this table (its `generatedAt`, on the drill's clock): when the weights really
        /// changed, free of the 100 ms sampling step. Nil when unknown.
        var builtAtMs: Int? = nil
        /// The `whenNoneHealthy` rule the route fell back on (`last-good`, `all`, `none`); nil while a cluster serves.
        var fallback: String? = nil
        /// The table's content hash (`/v1/table`'s `hash`): equal on gateways that agree on where traffic goes.
        var hash: String? = nil

        /// The best time of this table: when it was built, else when it was seen.
        var effectiveMs: Int { builtAtMs.map { min($0, atMs) } ?? atMs }
    }

    /// Something the drill did: the fault, the recovery, a step of a rolling restart.
    struct Event: Sendable, Codable, Hashable {
        enum Kind: String, Sendable, Codable { case fault, recovery, step }
        var atMs: Int
        var kind: Kind
        var what: String
    }

    var requests: [Request] = []
    var samples: [TableSample] = []
    var events: [Event] = []

    var faultAtMs: Int? { events.first { $0.kind == .fault }?.atMs }
    var recoveryAtMs: Int? { events.first { $0.kind == .recovery }?.atMs }
}
