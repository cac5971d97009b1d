import MeshCrypto
import Yams

extension RouteSpec {
    /// The keys an inline route may have; any other key is a typo that must not pass silently.
    static let inlineKeys: Set<String> = Set(["host", "path", "pathType", "service", "weights"] + TrafficPolicy.Overrides.keys)

    /// Parses the inline `routes:` list of the zone-agent config, given as its Yams node.
    ///
    /// Each entry is `{host, path, pathType, service, weights: {CLUSTER: WEIGHT}}`; `pathType` defaults to
    /// `Prefix` and `host` to every host. Errors name `source` (the config file) and the key path, e.g.
    /// `routes[0].weights.c1`, with `keyPath` as the name of the list itself.
    public static func inlineRoutes(_ node: Node, source: String, keyPath: String = "routes", knownClusters: Set<String>) throws(RouteError) -> [RouteSpec] {
        guard let entries = node.sequence else {
            throw RouteError(source: source, field: keyPath, problem: "must be a list of routes (or a mapping with `ingress`)")
        }
        guard !entries.isEmpty else {
            throw RouteError(source: source, field: keyPath, problem: "lists no route")
        }
        var all: [(route: RouteSpec, source: String, field: String)] = []
        for (i, entryNode) in entries.enumerated() {
            let field = "\(keyPath)[\(i)]"
            let entry = try YAMLField.mapping(entryNode, source: source, field: field)
            for (keyNode, _) in entry {
                let key = keyNode.string ?? "?"
                guard inlineKeys.contains(key) else {
                    throw RouteError(source: source, field: "\(field).\(key)",
                                     problem: "is not a known key (expected \(inlineKeys.sorted().joined(separator: ", ")))")
                }
            }
            let host = try YAMLField.optionalString(entry, "host", source: source, field: field) ?? ""
            guard let path = try YAMLField.optionalString(entry, "path", source: source, field: field) else {
                throw RouteError(source: source, field: "\(field).path", problem: "is missing")
            }
            let pathType = try YAMLField.optionalString(entry, "pathType", source: source, field: field) ?? PathType.prefix.rawValue
            guard let service = try YAMLField.optionalString(entry, "service", source: source, field: field) else {
                throw RouteError(source: source, field: "\(field).service", problem: "is missing (expected NAMESPACE/NAME)")
            }
            guard let weightsNode = entry["weights"] else {
                throw RouteError(source: source, field: "\(field).weights", problem: "is missing (expected {CLUSTER: WEIGHT} summing to 100)")
            }
            let weightsMapping = try YAMLField.mapping(weightsNode, source: source, field: "\(field).weights")
            var weights: [String: Int] = [:]
            for (clusterNode, weightNode) in weightsMapping {
                let cluster = clusterNode.string ?? ""
                let weightField = "\(field).weights.\(cluster)"
                guard let text = weightNode.scalar?.string else {
                    throw RouteError(source: source, field: weightField, problem: "weight must be an integer 0–100")
                }
                weights[cluster] = try RouteValidation.weightText(text, source: source, field: weightField)
            }
            var route = try RouteSpec(host: host, path: path, pathType: pathType, service: service, weights: weights,
                                      knownClusters: knownClusters, source: source, keyPath: field)
            route.traffic = try TrafficPolicy.Overrides.parse({ entry[Node($0)] }, at: field, walker: YAMLField.walker(source),
                                                               knownClusters: knownClusters)
            all.append((route, source, field))
        }
        try RouteValidation.rejectDuplicates(all)
        return all.map(\.route)
    }

    /// Parses inline routes from YAML text whose root is the routes list (mainly for tests and tools).
    public static func inlineRoutes(fromYAML text: String, source: String, keyPath: String = "routes", knownClusters: Set<String>) throws(RouteError) -> [RouteSpec] {
        let node: Node?
        do { node = try Yams.compose(yaml: text, .basic) } catch {
            throw RouteError(source: source, field: "", problem: "is not valid YAML: \(error)")
        }
        guard let node else { throw RouteError(source: source, field: keyPath, problem: "lists no route") }
        return try inlineRoutes(node, source: source, keyPath: keyPath, knownClusters: knownClusters)
    }
}

extension RouteSpec {
    /// Parses the inline `routes:` list, allowing weights only for the clusters `roster` trusts.
    public static func inlineRoutes(_ node: Node, source: String, keyPath: String = "routes", roster: TrustRoster) throws(RouteError) -> [RouteSpec] {
        try inlineRoutes(node, source: source, keyPath: keyPath, knownClusters: Set(roster.clusters))
    }
}
