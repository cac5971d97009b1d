import Foundation
import WeightTable
import Yams

/// The traffic policy a drill runs the local mesh's gateway with (`--failover FILE`: a fragment holding one
/// `failover:` mapping), and what that policy makes the drill expect. The gateway reads the same keys again at
/// start; they are checked here too, so a bad fragment exits 78 before any process starts.
struct DrillPolicy: Sendable, Hashable {
    /// The `failover:` keys a fragment may set (holdDown and slowStart replace the drill's 3 s).
    static let keys = ["holdDown", "slowStart", "vouching"] + TrafficPolicy.Overrides.keys

    var traffic = TrafficPolicy()
    var vouching = TablePolicy.Vouching.alive
    var holdDown: Duration?
    var slowStart: Duration?

    /// The policy of a fragment file, its clusters checked against the mesh's.
    static func load(path: String, clusters: Set<String>) throws(ConfigError) -> DrillPolicy {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: path, key: nil, problem: "cannot be read (missing, or no permission)")
        }
        return try parse(text, file: path, clusters: clusters)
    }

    static func parse(_ text: String, file: String, clusters: Set<String>) throws(ConfigError) -> DrillPolicy {
        let y = YAMLReader(file: file)
        let top = try y.mapping(try y.document(text), at: "", allowed: ["failover"])
        guard let node = top["failover"] else { throw y.fail("failover", "is required: the mapping merged into the gateway's `failover:`") }
        let f = try y.mapping(node, at: "failover", allowed: keys)
        var policy = DrillPolicy()
        if let overrides = try TrafficPolicy.Overrides.parse({ f[$0] }, at: "failover", walker: y, knownClusters: clusters) {
            policy.traffic = policy.traffic.overridden(by: overrides)
        }
        if let text = try y.string(f["vouching"], at: "failover.vouching") {
            guard let rule = TablePolicy.Vouching(rawValue: text) else {
                throw y.fail("failover.vouching", "`\(text)` is not a rule; use alive or alive-or-suspect")
            }
            policy.vouching = rule
        }
        policy.holdDown = try y.duration(f["holdDown"], at: "failover.holdDown")
        policy.slowStart = try y.duration(f["slowStart"], at: "failover.slowStart")
        return policy
    }

    /// The keys this policy sets beyond the drill's hold-down and slow start, as flow YAML for the gateway's
    /// `failover: { … }` (empty for the defaults).
    var gatewayEntries: String {
        var out: [String] = []
        if !traffic.priority.isEmpty {
            out.append("priority: [" + traffic.priority.map { "[" + $0.joined(separator: ", ") + "]" }.joined(separator: ", ") + "]")
        }
        switch traffic.minHealthy {
        case .count(let n)?: out.append("minHealthy: { count: \(n) }")
        case .percent(let p)?: out.append("minHealthy: { percent: \(p) }")
        case nil: break
        }
        if traffic.whenNoneHealthy != .lastGood { out.append("whenNoneHealthy: \(traffic.whenNoneHealthy.rawValue)") }
        if vouching != .alive { out.append("vouching: \(vouching.rawValue)") }
        return out.joined(separator: ", ")
    }

    /// How a report names the policy: "default" or the keys it sets.
    var label: String { gatewayEntries.isEmpty ? "default policy" : gatewayEntries }

    // MARK: Expectations

    /// The clusters that should take `cut`'s share while it is away: every other cluster under the proportional
    /// rule; with priority groups, the live clusters of the first group, from the cut one's own on (then from the
    /// top of the order), that has one. Every other cluster keeps its configured weight.
    func takers(of cut: Set<String>, clusters: [String]) -> Set<String> {
        let live = clusters.filter { !cut.contains($0) }
        guard !traffic.priority.isEmpty else { return Set(live) }
        var groups = traffic.priority.map { $0.filter(clusters.contains) }.filter { !$0.isEmpty }
        let named = Set(groups.joined())
        let rest = clusters.filter { !named.contains($0) }.sorted()
        if !rest.isEmpty { groups.append(rest) }
        let from = groups.firstIndex { !Set($0).isDisjoint(with: cut) } ?? 0
        let order = Array(groups[from...]) + Array(groups[..<from])
        return Set(order.lazy.map { $0.filter { !cut.contains($0) } }.first { !$0.isEmpty } ?? [])
    }

    /// Whether `weights`, the table while `cut` is away, sends the share where this policy says; and why not.
    func holds(_ weights: [String: Int], configured: [String: Int], cut: Set<String>) -> (held: Bool, why: String) {
        let takers = takers(of: cut, clusters: configured.keys.sorted())
        var wrong: [String] = []
        for (cluster, weight) in configured.sorted(by: { $0.key < $1.key }) {
            let now = weights[cluster] ?? -1
            if cut.contains(cluster) {
                if now != 0 { wrong.append("\(cluster) at \(now), not 0") }
            } else if takers.contains(cluster) {
                if now < weight { wrong.append("\(cluster) at \(now), below its \(weight)") }
            } else if now != weight {
                wrong.append("\(cluster) at \(now), not its \(weight) (not in the group that takes the share)")
            }
        }
        if weights.values.reduce(0, +) != 100 { wrong.append("the weights sum to \(weights.values.reduce(0, +))") }
        let to = takers.sorted().joined(separator: ", ")
        return (wrong.isEmpty, wrong.isEmpty ? "went to \(to.isEmpty ? "nobody" : to)" : wrong.joined(separator: "; "))
    }
}
