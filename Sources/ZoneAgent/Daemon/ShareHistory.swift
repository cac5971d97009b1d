import Synchronization
import WeightTable

/// The last minutes of each route's shares, sampled every few seconds: each cluster's effective weight and the
/// share of requests the proxy actually sent it. The status page draws it.
final class ShareHistory: Sendable {
    /// One moment of one route.
    struct Sample: Sendable, Equatable {
        var atMillis: UInt64
        /// Effective weight per cluster, in the route's cluster order.
        var weights: [UInt8]
        /// Percent of the requests since the previous sample per cluster, in the route's cluster order; nil when
        /// the route had no request in between.
        var shares: [UInt8]?
    }

    /// One route's samples, oldest first.
    struct Series: Sendable, Equatable {
        var clusters: [String]
        var samples: [Sample] = []
    }

    /// How far back samples are kept: the status chart's window.
    static let windowMillis: UInt64 = 5 * 60 * 1000
    /// Samples kept per route at most: five minutes at one every two seconds, plus one per new table (a busy
    /// failback adds about twenty). 50 routes of 20 clusters take at most some 600 KB.
    static let capacity = 300
    /// How often the gateway samples when no table comes.
    static let interval: Duration = .seconds(2)

    private let state = Mutex<(series: [String: Series], lastCounts: [String: [String: Int]])>(([:], [:]))

    init() {}

    /// Takes one sample of every route of `table`, with the requests counted since the last sample.
    func sample(_ table: RoutingTable, counts: [String: [String: Int]], atMillis: UInt64) {
        state.withLock { state in
            for route in table.routes {
                let id = route.spec.id
                let clusters = route.clusters.map(\.cluster)
                var series = state.series[id] ?? Series(clusters: clusters)
                if series.clusters != clusters { series = Series(clusters: clusters) }
                let now = counts[id] ?? [:]
                let before = state.lastCounts[id] ?? [:]
                let sent = clusters.map { max(0, (now[$0] ?? 0) - (before[$0] ?? 0)) }
                let total = sent.reduce(0, +)
                let shares = total == 0 ? nil : Self.percentages(sent, total: total)
                series.samples.append(Sample(atMillis: atMillis, weights: route.clusters.map { UInt8(clamping: $0.effectiveWeight) },
                                             shares: shares))
                let tooOld = series.samples.prefix { $0.atMillis + Self.windowMillis < atMillis }.count
                let excess = max(tooOld, series.samples.count - Self.capacity)
                if excess > 0 { series.samples.removeFirst(excess) }
                state.series[id] = series
            }
            let live = Set(table.routes.map(\.spec.id))
            state.series = state.series.filter { live.contains($0.key) }
            state.lastCounts = counts
        }
    }

    /// The series of route `id`, if sampled.
    func series(_ id: String) -> Series? { state.withLock { $0.series[id] } }

    /// Every route's series, by route id.
    func all() -> [String: Series] { state.withLock { $0.series } }

    /// Whole percentages of `parts` that add up to 100 (largest remainders get the rounding).
    static func percentages(_ parts: [Int], total: Int) -> [UInt8] {
        let exact = parts.map { Double($0) * 100 / Double(total) }
        var whole = exact.map { Int($0) }
        let order = exact.indices.sorted { exact[$0] - Double(whole[$0]) > exact[$1] - Double(whole[$1]) }
        for index in order.prefix(max(0, 100 - whole.reduce(0, +))) { whole[index] += 1 }
        return whole.map { UInt8(clamping: $0) }
    }
}
