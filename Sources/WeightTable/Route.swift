/// How a route's path is compared with a request's path, as Kubernetes defines `pathType`.
public enum PathType: String, Sendable, Hashable, Codable, CaseIterable {
    /// The path matches element-wise: `/svc1` matches `/svc1` and `/svc1/x`, never `/svc10`.
    case prefix = "Prefix"
    /// The path matches only itself, byte for byte.
    case exact = "Exact"
}

/// One route with its configured weights: where requests for a host and path go, and how they split by cluster.
///
/// Built from an Ingress rule path or from an inline `routes:` entry; both go through the same validation, so a
/// `RouteSpec` that exists is valid (host lower-cased, path absolute, weights 0–100 summing to 100).
public struct RouteSpec: Sendable, Hashable {
    /// The host, lower-cased and without port; empty matches every host, `*.example.com` one leading label.
    public var host: String
    /// The absolute path the route serves.
    public var path: String
    /// How `path` is matched.
    public var pathType: PathType
    /// The backend service as `NAMESPACE/NAME`, as agents report it in their digests.
    public var service: String
    /// The configured weight of each cluster, 0–100, summing to 100.
    public var weights: [String: Int]
    /// The failover rules this route sets for itself; the rest come from the table policy (`TablePolicy.traffic`).
    public var traffic: TrafficPolicy.Overrides?

    /// Validates and builds a route from plain values; the inline-config and Ingress parsers both end here.
    ///
    /// `source` names the file and `keyPath` the entry (`routes[0]`), so an error reads
    /// `zone-agent.yaml: routes[0].weights.c1: ...`. Every cluster must be in `knownClusters` (the trust roster),
    /// because a weight for a cluster no key can speak for could never be vouched for.
    public init(
        host: String,
        path: String,
        pathType: String,
        service: String,
        weights: [String: Int],
        knownClusters: Set<String>,
        source: String,
        keyPath: String
    ) throws(RouteError) {
        let field = { (name: String) in keyPath.isEmpty ? name : "\(keyPath).\(name)" }
        self.host = try RouteValidation.host(host, source: source, field: field("host"))
        self.path = try RouteValidation.path(path, source: source, field: field("path"))
        guard let type = PathType(rawValue: pathType) else {
            throw RouteError(source: source, field: field("pathType"), problem: RouteValidation.unknownPathType(pathType))
        }
        self.pathType = type
        self.service = try RouteValidation.service(service, source: source, field: field("service"))
        for cluster in weights.keys.sorted() {
            try RouteValidation.weight(weights[cluster] ?? 0, cluster: cluster, knownClusters: knownClusters,
                                       source: source, field: field("weights.\(cluster)"))
        }
        try RouteValidation.weightSum(weights, source: source, field: field("weights"))
        self.weights = weights
    }

    /// Builds a route without validation, for tests and benchmarks that construct known-good values.
    public init(uncheckedHost host: String, path: String, pathType: PathType, service: String, weights: [String: Int]) {
        self.host = host.lowercased()
        self.path = path
        self.pathType = pathType
        self.service = service
        self.weights = weights
    }

    /// The route's name in changes and logs: host and path, with `=` before an exact path so the two kinds differ.
    public var id: String {
        let shownHost = host.isEmpty ? "*" : host
        return pathType == .exact ? "\(shownHost)=\(path)" : "\(shownHost)\(path)"
    }

    /// The clusters with a configured weight, sorted by name: the order of every per-cluster list.
    public var clusters: [String] { weights.keys.sorted() }
}

/// A route definition that cannot be used, naming the file, the field and what is wrong.
public struct RouteError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file (or other source) the route came from, e.g. `ingress-demo.yaml`.
    public var source: String
    /// The field within the source, e.g. `spec.rules[0].http.paths[0].pathType` or `routes[1].weights.c1`.
    public var field: String
    /// What is wrong, as a sentence fragment a person can act on.
    public var problem: String

    /// Creates an error for `field` of `source`.
    public init(source: String, field: String, problem: String) {
        self.source = source
        self.field = field
        self.problem = problem
    }

    /// `source: field: problem`.
    public var description: String {
        field.isEmpty ? "\(source): \(problem)" : "\(source): \(field): \(problem)"
    }
}

/// The rules both route parsers share, so an inline route and an Ingress path are held to the same standard.
enum RouteValidation {
    static func host(_ raw: String, source: String, field: String) throws(RouteError) -> String {
        let host = raw.lowercased()
        if host.isEmpty { return host }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        for (i, label) in labels.enumerated() {
            let isWildcard = i == 0 && label == "*" && labels.count > 1
            let valid = !label.isEmpty && label.utf8.allSatisfy { c in
                (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c == 0x2d
            }
            guard isWildcard || valid else {
                throw RouteError(source: source, field: field,
                                 problem: "\"\(raw)\" is not a host name (letters, digits, '-' and '.', optionally a leading '*.'; no port)")
            }
        }
        return host
    }

    static func path(_ path: String, source: String, field: String) throws(RouteError) -> String {
        guard path.hasPrefix("/") else {
            throw RouteError(source: source, field: field, problem: "\"\(path)\" must be an absolute path starting with '/'")
        }
        guard !path.contains("?"), !path.contains("#") else {
            throw RouteError(source: source, field: field, problem: "\"\(path)\" must not contain a query or fragment")
        }
        return path
    }

    static func unknownPathType(_ value: String) -> String {
        value.isEmpty ? "is missing (expected Prefix or Exact)" : "unknown pathType \"\(value)\" (expected Prefix or Exact)"
    }

    static func service(_ service: String, source: String, field: String) throws(RouteError) -> String {
        let parts = service.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw RouteError(source: source, field: field, problem: "\"\(service)\" is not a service as NAMESPACE/NAME")
        }
        return service
    }

    static func weight(_ weight: Int, cluster: String, knownClusters: Set<String>, source: String, field: String) throws(RouteError) {
        guard knownClusters.contains(cluster) else {
            let known = knownClusters.sorted().joined(separator: ", ")
            throw RouteError(source: source, field: field,
                             problem: "cluster \"\(cluster)\" is not in the trust roster (known: \(known.isEmpty ? "none" : known))")
        }
        guard weight >= 0 else {
            throw RouteError(source: source, field: field, problem: "weight \(weight) is negative (expected an integer 0–100)")
        }
        guard weight <= 100 else {
            throw RouteError(source: source, field: field, problem: "weight \(weight) is above 100 (expected an integer 0–100)")
        }
    }

    static func weightSum(_ weights: [String: Int], source: String, field: String) throws(RouteError) {
        guard !weights.isEmpty else {
            throw RouteError(source: source, field: field, problem: "no cluster weight given (expected weights summing to 100)")
        }
        let sum = weights.values.reduce(0, +)
        guard sum == 100 else {
            throw RouteError(source: source, field: field, problem: "weights sum to \(sum), not 100")
        }
    }

    /// Parses a weight written as text (annotations are strings): a plain decimal integer, nothing else.
    static func weightText(_ text: String, source: String, field: String) throws(RouteError) -> Int {
        let trimmed = text.trimmingSpaces()
        if trimmed.hasPrefix("-"), let value = Int(trimmed) {
            throw RouteError(source: source, field: field, problem: "weight \(value) is negative (expected an integer 0–100)")
        }
        let digitsOnly = !trimmed.isEmpty && trimmed.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
        if digitsOnly && Int(trimmed) == nil {
            throw RouteError(source: source, field: field, problem: "weight \(trimmed) is above 100 (expected an integer 0–100)")
        }
        guard digitsOnly, let value = Int(trimmed) else {
            throw RouteError(source: source, field: field, problem: "weight \"\(text)\" is not an integer (expected 0–100)")
        }
        return value
    }

    /// Rejects two routes that would claim the same requests; the later one names the earlier.
    static func rejectDuplicates(_ routes: [(route: RouteSpec, source: String, field: String)]) throws(RouteError) {
        var seen: [String: String] = [:]
        for entry in routes {
            let key = entry.route.id
            if let first = seen[key] {
                throw RouteError(source: entry.source, field: entry.field,
                                 problem: "duplicates the route \(key) already defined at \(first)")
            }
            seen[key] = entry.field.isEmpty ? entry.source : "\(entry.source): \(entry.field)"
        }
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" || c == "\n" || c == "\r" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" || c == "\n" || c == "\r" { s.removeLast() }
        return String(s)
    }
}
