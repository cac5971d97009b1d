/// The figures a drill report gives, computed from its record alone (a pure function, so the report can be
/// re-derived and the arithmetic is tested apart from any mesh).
struct DrillFigures: Sendable, Codable, Hashable {
    /// Fault → the first table in which the drilled cluster has weight 0 (when the gateway built it, where known).
    var failoverTableSeconds: Double?
    /// Fault → the end of the last request the drilled cluster served (0 when it served none after the fault).
    var failoverTrafficSeconds: Double?
    /// Recovery → the first table with every configured weight back.
    var failbackSeconds: Double?
    var requests: Int
    var failedRequests: Int
    /// Requests sent after the table dropped the drilled cluster that it still served: the proxy's view lagging
    /// its own table.
    var servedAfterDrop: Int
    /// Table samples that differ from the one before (any cluster, any weight).
    var weightChanges: Int
    /// Times a cluster's weight fell to 0.
    var failovers: Int
    /// Failovers beyond those the scenario causes: a cluster that went away again after coming back.
    var flaps: Int
    /// The first few failures, for the reader.
    var failures: [String]

    /// - Parameters:
    ///   - cluster: the cluster the drill acts on.
    ///   - configured: the route's configured weights.
    ///   - expectedFailovers: 1 where the scenario takes the cluster away, 0 where it must not move traffic.
    init(record: DrillRecord, cluster: String, configured: [String: Int], expectedFailovers: Int) {
        let fault = record.faultAtMs
        let samples = record.samples
        requests = record.requests.count
        let failed = record.requests.filter { !$0.ok }
        failedRequests = failed.count
        failures = failed.prefix(5).map { "at \(Self.seconds($0.sentMs)) s: \($0.outcome)" }

        var dropAt: Int?
        if let fault {
            dropAt = samples.first { $0.atMs >= fault && $0.weights[cluster] == 0 }.map { max(fault, $0.effectiveMs) }
            failoverTableSeconds = dropAt.map { Self.seconds($0 - fault) }
            let until = record.recoveryAtMs ?? Int.max
            // Served after the fault: answered after it (a request in flight at the fault counts), sent before the recovery.
            let served = record.requests.filter { $0.endMs > Double(fault) && $0.sentMs < until && $0.cluster == cluster }
            failoverTrafficSeconds = max(0, (served.map(\.endMs).max() ?? Double(fault)) - Double(fault)) / 1000
        }
        if let recovery = record.recoveryAtMs {
            let back = samples.first { $0.atMs >= recovery && $0.weights == configured }.map { max(recovery, $0.effectiveMs) }
            failbackSeconds = back.map { Self.seconds($0 - recovery) }
        }
        let until = record.recoveryAtMs ?? Int.max
        servedAfterDrop = dropAt.map { d in
            record.requests.filter { $0.sentMs > d && $0.sentMs < until && $0.cluster == cluster }.count
        } ?? 0

        var changes = 0, drops = 0
        for (previous, next) in zip(samples, samples.dropFirst()) where previous.weights != next.weights {
            changes += 1
            drops += next.weights.filter { $0.value == 0 && (previous.weights[$0.key] ?? 0) > 0 }.count
        }
        weightChanges = changes
        failovers = drops
        flaps = max(0, drops - expectedFailovers)
    }

    private static func seconds(_ ms: Int) -> Double { Double(ms) / 1000 }
}

/// The report's timeline: per 100 ms, each cluster's share of the requests sent then and the table's weights.
struct DrillTimeline: Sendable, Codable, Hashable {
    struct Bucket: Sendable, Codable, Hashable {
        var atMs: Int
        /// Requests sent in this bucket, by serving cluster.
        var served: [String: Int]
        var failed: Int
        /// The table's weights at the bucket's end (the newest sample before it).
        var weights: [String: Int]
    }

    static let bucketMs = 100
    var buckets: [Bucket]

    init(record: DrillRecord) {
        let end = max(record.requests.map(\.sentMs).max() ?? 0, record.samples.map(\.atMs).max() ?? 0)
        var buckets = (0...(end / Self.bucketMs)).map { Bucket(atMs: $0 * Self.bucketMs, served: [:], failed: 0, weights: [:]) }
        for request in record.requests {
            let i = request.sentMs / Self.bucketMs
            if let cluster = request.cluster, request.ok {
                buckets[i].served[cluster, default: 0] += 1
            } else {
                buckets[i].failed += 1
            }
        }
        var s = 0
        var current: [String: Int] = [:]
        for i in buckets.indices {
            let bucketEnd = buckets[i].atMs + Self.bucketMs
            while s < record.samples.count, record.samples[s].atMs < bucketEnd {
                current = record.samples[s].weights
                s += 1
            }
            buckets[i].weights = current
        }
        self.buckets = buckets
    }
}
