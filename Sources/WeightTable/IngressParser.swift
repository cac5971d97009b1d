import MeshCrypto
import Yams

/// Reads routes from Kubernetes Ingress manifests exactly as operators write them for ACK One's ALB
/// multi-cluster gateway.
///
/// Each `networking.k8s.io/v1` Ingress contributes one route per rule path; its
/// `alb.ingress.kubernetes.io/cluster-weight.<cluster>` annotations give every route of that Ingress its
/// cluster weights. Fields the gateway does not use (TLS, listen ports, ingress class) are left alone, as
/// Kubernetes leaves them to the controller.
public enum IngressParser {
    /// The annotation prefix whose suffix names a cluster and whose value is that cluster's weight.
    public static let clusterWeightPrefix = "alb.ingress.kubernetes.io/cluster-weight."

    /// Parses the manifest `text` (one or several `---`-separated Ingress documents) into routes.
    ///
    /// `source` names the file in errors (the caller reads it); every weighted cluster must be in
    /// `knownClusters`, the clusters of the trust roster.
    public static func routes(fromYAML text: String, source: String, knownClusters: Set<String>) throws(RouteError) -> [RouteSpec] {
        var documents: [Node] = []
        do {
            var sequence = try Yams.compose_all(yaml: text, .basic)
            while let node = sequence.next() { documents.append(node) }
            if let error = sequence.error { throw error }
        } catch {
            throw RouteError(source: source, field: "", problem: "is not valid YAML: \(error)")
        }
        documents.removeAll { $0.null != nil }
        guard !documents.isEmpty else {
            throw RouteError(source: source, field: "", problem: "holds no Ingress document")
        }
        var all: [(route: RouteSpec, source: String, field: String)] = []
        for (index, document) in documents.enumerated() {
            let documentSource = documents.count == 1 ? source : "\(source) (document \(index + 1))"
            all += try routes(fromDocument: document, source: documentSource, knownClusters: knownClusters)
        }
        try RouteValidation.rejectDuplicates(all)
        return all.map(\.route)
    }

    static func routes(fromDocument document: Node, source: String, knownClusters: Set<String>)
        throws(RouteError) -> [(route: RouteSpec, source: String, field: String)]
    {
        let root = try YAMLField.mapping(document, source: source, field: "")
        let kind = try YAMLField.requiredString(root, "kind", source: source, field: "")
        guard kind == "Ingress" else {
            throw RouteError(source: source, field: "kind", problem: "is \"\(kind)\", expected Ingress")
        }
        let apiVersion = try YAMLField.requiredString(root, "apiVersion", source: source, field: "")
        guard apiVersion == "networking.k8s.io/v1" else {
            throw RouteError(source: source, field: "apiVersion", problem: "is \"\(apiVersion)\", expected networking.k8s.io/v1")
        }
        guard let metadataNode = root["metadata"] else {
            throw RouteError(source: source, field: "metadata", problem: "is missing")
        }
        let metadata = try YAMLField.mapping(metadataNode, source: source, field: "metadata")
        let namespace = try YAMLField.optionalString(metadata, "namespace", source: source, field: "metadata") ?? "default"
        let weights = try clusterWeights(metadata, source: source, knownClusters: knownClusters)

        guard let specNode = root["spec"] else {
            throw RouteError(source: source, field: "spec", problem: "is missing")
        }
        let spec = try YAMLField.mapping(specNode, source: source, field: "spec")
        var routes: [(route: RouteSpec, source: String, field: String)] = []
        if let rulesNode = spec["rules"] {
            guard let rules = rulesNode.sequence else {
                throw RouteError(source: source, field: "spec.rules", problem: "must be a list of rules")
            }
            for (r, ruleNode) in rules.enumerated() {
                let ruleField = "spec.rules[\(r)]"
                let rule = try YAMLField.mapping(ruleNode, source: source, field: ruleField)
                let rawHost = try YAMLField.optionalString(rule, "host", source: source, field: ruleField) ?? ""
                let host = try RouteValidation.host(rawHost, source: source, field: "\(ruleField).host")
                guard let httpNode = rule["http"] else {
                    throw RouteError(source: source, field: "\(ruleField).http", problem: "is missing (expected http.paths)")
                }
                let http = try YAMLField.mapping(httpNode, source: source, field: "\(ruleField).http")
                guard let paths = http["paths"]?.sequence, !paths.isEmpty else {
                    throw RouteError(source: source, field: "\(ruleField).http.paths", problem: "must be a non-empty list of paths")
                }
                for (p, pathNode) in paths.enumerated() {
                    let field = "\(ruleField).http.paths[\(p)]"
                    let route = try route(pathNode, host: host, namespace: namespace, weights: weights, source: source, field: field)
                    routes.append((route, source, field))
                }
            }
        }
        if let backendNode = spec["defaultBackend"] {
            // The default backend catches what no rule matches: every host, every path.
            let name = try serviceName(backendNode, source: source, field: "spec.defaultBackend")
            let route = RouteSpec(uncheckedHost: "", path: "/", pathType: .prefix, service: "\(namespace)/\(name)", weights: weights)
            routes.append((route, source, "spec.defaultBackend"))
        }
        guard !routes.isEmpty else {
            throw RouteError(source: source, field: "spec.rules", problem: "is missing or empty (the Ingress defines no route)")
        }
        return routes
    }

    static func clusterWeights(_ metadata: Node.Mapping, source: String, knownClusters: Set<String>) throws(RouteError) -> [String: Int] {
        guard let annotationsNode = metadata["annotations"] else {
            throw RouteError(source: source, field: "metadata.annotations",
                             problem: "is missing (expected \(clusterWeightPrefix)<cluster> annotations summing to 100)")
        }
        let annotations = try YAMLField.mapping(annotationsNode, source: source, field: "metadata.annotations")
        var weights: [String: Int] = [:]
        var lastField = "metadata.annotations"
        var entries: [(key: String, value: Node)] = []
        for (keyNode, value) in annotations {
            guard let key = keyNode.string else { continue }
            if key.hasPrefix(clusterWeightPrefix) { entries.append((key, value)) }
        }
        // Sorted so that the annotation an error names does not depend on the order in the file.
        for (key, value) in entries.sorted(by: { $0.key < $1.key }) {
            let cluster = String(key.dropFirst(clusterWeightPrefix.count))
            let field = "metadata.annotations[\"\(key)\"]"
            guard !cluster.isEmpty else {
                throw RouteError(source: source, field: field, problem: "names no cluster after \"\(clusterWeightPrefix)\"")
            }
            guard let text = value.scalar?.string else {
                throw RouteError(source: source, field: field, problem: "weight must be an integer 0–100 written as a string")
            }
            let weight = try RouteValidation.weightText(text, source: source, field: field)
            try RouteValidation.weight(weight, cluster: cluster, knownClusters: knownClusters, source: source, field: field)
            weights[cluster] = weight
            lastField = field
        }
        guard !weights.isEmpty else {
            throw RouteError(source: source, field: "metadata.annotations",
                             problem: "has no \(clusterWeightPrefix)<cluster> annotation (expected weights summing to 100)")
        }
        try RouteValidation.weightSum(weights, source: source, field: lastField)
        return weights
    }

    static func route(_ node: Node, host: String, namespace: String, weights: [String: Int], source: String, field: String) throws(RouteError) -> RouteSpec {
        let entry = try YAMLField.mapping(node, source: source, field: field)
        let pathType = try YAMLField.optionalString(entry, "pathType", source: source, field: field) ?? ""
        guard let type = PathType(rawValue: pathType) else {
            throw RouteError(source: source, field: "\(field).pathType", problem: RouteValidation.unknownPathType(pathType))
        }
        guard let rawPath = try YAMLField.optionalString(entry, "path", source: source, field: field) else {
            throw RouteError(source: source, field: "\(field).path", problem: "is missing (required for pathType \(type.rawValue))")
        }
        let path = try RouteValidation.path(rawPath, source: source, field: "\(field).path")
        guard let backend = entry["backend"] else {
            throw RouteError(source: source, field: "\(field).backend", problem: "is missing (expected backend.service.name)")
        }
        let name = try serviceName(backend, source: source, field: "\(field).backend")
        return RouteSpec(uncheckedHost: host, path: path, pathType: type, service: "\(namespace)/\(name)", weights: weights)
    }

    static func serviceName(_ node: Node, source: String, field: String) throws(RouteError) -> String {
        let backend = try YAMLField.mapping(node, source: source, field: field)
        if backend["resource"] != nil {
            throw RouteError(source: source, field: "\(field).resource", problem: "resource backends are not supported (expected backend.service)")
        }
        guard let serviceNode = backend["service"] else {
            throw RouteError(source: source, field: "\(field).service", problem: "is missing (expected service.name and service.port)")
        }
        let service = try YAMLField.mapping(serviceNode, source: source, field: "\(field).service")
        guard let name = try YAMLField.optionalString(service, "name", source: source, field: "\(field).service"), !name.isEmpty else {
            throw RouteError(source: source, field: "\(field).service.name", problem: "is missing (the backend names no service)")
        }
        guard let portNode = service["port"] else {
            throw RouteError(source: source, field: "\(field).service.port", problem: "is missing (expected port.number or port.name)")
        }
        let port = try YAMLField.mapping(portNode, source: source, field: "\(field).service.port")
        if let number = port["number"] {
            guard let value = number.scalar?.string, let n = Int(value), (1...65535).contains(n) else {
                throw RouteError(source: source, field: "\(field).service.port.number", problem: "must be a port number 1–65535")
            }
        } else if port["name"]?.scalar == nil {
            throw RouteError(source: source, field: "\(field).service.port", problem: "has neither number nor name")
        }
        return name
    }
}

/// The Ingress parser's view of the shared ``YAMLWalker``: errors are `RouteError`s naming the field.
enum YAMLField {
    static func walker(_ source: String) -> YAMLWalker<RouteError> {
        YAMLWalker(file: source) { source, field, problem in RouteError(source: source, field: field, problem: problem) }
    }

    static func mapping(_ node: Node, source: String, field: String) throws(RouteError) -> Node.Mapping {
        try walker(source).entries(node, at: field)
    }

    static func optionalString(_ mapping: Node.Mapping, _ key: String, source: String, field: String) throws(RouteError) -> String? {
        try walker(source).string(mapping[key], at: field.isEmpty ? key : "\(field).\(key)")
    }

    static func requiredString(_ mapping: Node.Mapping, _ key: String, source: String, field: String) throws(RouteError) -> String {
        try walker(source).requiredString(mapping[key], at: field.isEmpty ? key : "\(field).\(key)", missing: "is missing")
    }
}

extension IngressParser {
    /// Parses the manifest `text` into routes, allowing weights only for the clusters `roster` trusts.
    public static func routes(fromYAML text: String, source: String, roster: TrustRoster) throws(RouteError) -> [RouteSpec] {
        try routes(fromYAML: text, source: source, knownClusters: Set(roster.clusters))
    }
}
