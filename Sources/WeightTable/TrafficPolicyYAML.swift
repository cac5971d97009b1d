import Yams

extension TrafficPolicy.Overrides {
    /// The keys that set traffic policy, under `failover:` and on an inline route.
    public static let keys = ["priority", "minHealthy", "whenNoneHealthy"]

    /// Reads the traffic keys among `entries` (the mapping at `path`), each checked: priority groups name only
    /// clusters the roster knows, each once; minHealthy is `{count: N}` or `{percent: P}`; whenNoneHealthy is one
    /// of its rules. Nil when none of the keys is there.
    public static func parse<Failure: Error>(
        _ entries: (String) -> Node?, at path: String, walker y: YAMLWalker<Failure>, knownClusters: Set<String>
    ) throws(Failure) -> Self? {
        func here(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
        var overrides = Self()
        var any = false
        if let node = entries("priority") {
            any = true
            var seen = Set<String>()
            var groups: [[String]] = []
            for (g, groupNode) in try y.list(node, at: here("priority")).enumerated() {
                var group: [String] = []
                for (c, clusterNode) in try y.list(groupNode, at: "\(here("priority"))[\(g)]").enumerated() {
                    let at = "\(here("priority"))[\(g)][\(c)]"
                    let cluster = try y.requiredString(clusterNode, at: at)
                    guard knownClusters.contains(cluster) else {
                        throw y.fail(at, "`\(cluster)` is not a cluster of the trust roster (\(knownClusters.sorted().joined(separator: ", ")))")
                    }
                    guard seen.insert(cluster).inserted else { throw y.fail(at, "`\(cluster)` is in more than one place") }
                    group.append(cluster)
                }
                guard !group.isEmpty else { throw y.fail("\(here("priority"))[\(g)]", "is an empty group") }
                groups.append(group)
            }
            overrides.priority = groups
        }
        if let node = entries("minHealthy") {
            any = true
            let m = try y.mapping(node, at: here("minHealthy"), allowed: ["count", "percent"])
            let count = try y.int(m["count"], at: here("minHealthy.count"), range: 1...100_000)
            let percent = try y.int(m["percent"], at: here("minHealthy.percent"), range: 1...100)
            switch (count, percent) {
            case (let n?, nil): overrides.minHealthy = .count(n)
            case (nil, let p?): overrides.minHealthy = .percent(p)
            default: throw y.fail(here("minHealthy"), "needs exactly one of `count: N` and `percent: P`")
            }
        }
        if let text = try y.string(entries("whenNoneHealthy"), at: here("whenNoneHealthy")) {
            any = true
            guard let rule = TrafficPolicy.NoneHealthy(rawValue: text) else {
                let rules = TrafficPolicy.NoneHealthy.allCases.map(\.rawValue).joined(separator: ", ")
                throw y.fail(here("whenNoneHealthy"), "`\(text)` is not a rule; use one of \(rules)")
            }
            overrides.whenNoneHealthy = rule
        }
        return any ? overrides : nil
    }
}
