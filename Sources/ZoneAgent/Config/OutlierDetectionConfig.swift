import WeightTable
import Yams

extension OutlierPolicy {
    /// The keys of `failover.outlierDetection`.
    static let keys = ["consecutiveErrors", "baseEjection", "maxEjection", "maxEjectedPercent", "clusterErrorRate", "window", "minRequests"]

    /// Reads `failover.outlierDetection` (at `path`): a mapping of the keys above, each optional (`{}` turns detection
    /// on with the defaults), each checked against a range that keeps it meaningful.
    static func parse(_ node: Node, at path: String, y: YAMLReader) throws(ConfigError) -> OutlierPolicy {
        let o = try y.mapping(node, at: path, allowed: keys)
        let defaults = OutlierPolicy()
        func duration(_ key: String, _ current: Duration, _ range: ClosedRange<Duration>) throws(ConfigError) -> Duration {
            guard let value = try y.duration(o[key], at: "\(path).\(key)") else { return current }
            guard range.contains(value) else {
                throw y.fail("\(path).\(key)", "`\(DurationText.format(value))` is outside \(DurationText.format(range.lowerBound))"
                    + "–\(DurationText.format(range.upperBound))")
            }
            return value
        }
        let base = try duration("baseEjection", defaults.baseEjection, .milliseconds(100)...(.seconds(3600)))
        let maxEjection = try duration("maxEjection", max(base, defaults.maxEjection), .milliseconds(100)...(.seconds(86_400)))
        guard maxEjection >= base else {
            throw y.fail("\(path).maxEjection", "`\(DurationText.format(maxEjection))` is shorter than \(path).baseEjection "
                + "(\(DurationText.format(base))); an ejection lasts at least baseEjection")
        }
        // 0 turns the cluster error rate off: endpoints are still ejected.
        let rate = try y.int(o["clusterErrorRate"], at: "\(path).clusterErrorRate", range: 0...100) ?? defaults.clusterErrorRate ?? 0
        return OutlierPolicy(
            consecutiveErrors: try y.int(o["consecutiveErrors"], at: "\(path).consecutiveErrors", range: 1...1000) ?? defaults.consecutiveErrors,
            baseEjection: base, maxEjection: maxEjection,
            maxEjectedPercent: try y.int(o["maxEjectedPercent"], at: "\(path).maxEjectedPercent", range: 0...100) ?? defaults.maxEjectedPercent,
            clusterErrorRate: rate == 0 ? nil : rate,
            window: try duration("window", defaults.window, .milliseconds(100)...(.seconds(600))),
            minRequests: try y.int(o["minRequests"], at: "\(path).minRequests", range: 1...10_000) ?? defaults.minRequests)
    }
}
