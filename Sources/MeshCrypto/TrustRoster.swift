import Yams

/// Which public keys may speak for which cluster: the contents of `trust.yaml`.
///
/// Several keys per cluster are allowed so that a cluster key can be rotated: trust the new key everywhere,
/// switch the agents to it, then remove the old one.
///
/// `operators` lists the keys of the people who may drain a cluster (`zone-agent drain`): a separate list, so a
/// cluster key, which every agent of its cluster holds, can never order a drain.
public struct TrustRoster: Sendable, Equatable {
    public private(set) var keysByCluster: [String: [PublicKey]]
    /// The operator keys, in the order the file lists them.
    public private(set) var operators: [PublicKey]
    private var clusterByKeyID: [KeyID: (cluster: String, key: PublicKey)]

    public init(_ keysByCluster: [String: [PublicKey]], operators: [PublicKey] = []) {
        self.keysByCluster = keysByCluster
        self.operators = operators
        var index: [KeyID: (String, PublicKey)] = [:]
        for (cluster, keys) in keysByCluster {
            for key in keys { index[key.keyID] = (cluster, key) }
        }
        self.clusterByKeyID = index
    }

    public var clusters: [String] { keysByCluster.keys.sorted() }

    public func contains(cluster: String) -> Bool { keysByCluster[cluster] != nil }

    /// The key with `keyID`, if the roster trusts it for `cluster`.
    public func key(_ keyID: KeyID, forCluster cluster: String) -> PublicKey? {
        guard let entry = clusterByKeyID[keyID], entry.cluster == cluster else { return nil }
        return entry.key
    }

    /// The cluster a key is trusted for, if any (to explain a rejection).
    public func cluster(trusting keyID: KeyID) -> String? { clusterByKeyID[keyID]?.cluster }

    /// The operator key with `keyID`, if the roster lists one; cluster keys never qualify.
    public func operatorKey(_ keyID: KeyID) -> PublicKey? { operators.first { $0.keyID == keyID } }

    public static func == (lhs: TrustRoster, rhs: TrustRoster) -> Bool {
        lhs.keysByCluster == rhs.keysByCluster && lhs.operators == rhs.operators
    }

    /// Parses `trust.yaml`: `clusters: { NAME: [BASE64_PUBLIC_KEY, ...] }` and, optionally,
    /// `operators: [BASE64_PUBLIC_KEY, ...]`. `source` names the file in errors.
    public init(yaml text: String, source: String = "trust.yaml") throws(TrustRosterError) {
        let node: Node?
        do { node = try Yams.compose(yaml: text, .basic) } catch {
            throw .invalid(source: source, key: nil, reason: "is not valid YAML: \(error)")
        }
        guard let root = node?.mapping else {
            throw .invalid(source: source, key: nil, reason: "must be a mapping with a `clusters` key")
        }
        var clusters: [String: [PublicKey]]?
        var operators: [PublicKey] = []
        for (keyNode, value) in root {
            if keyNode.string == "operators" {
                operators = try Self.operatorKeys(value, source: source)
                continue
            }
            guard keyNode.string == "clusters" else {
                throw .invalid(source: source, key: keyNode.string ?? "?", reason: "is not a known key (expected `clusters` or `operators`)")
            }
            guard let mapping = value.mapping else {
                throw .invalid(source: source, key: "clusters", reason: "must map each cluster id to a list of base64 public keys")
            }
            var parsed: [String: [PublicKey]] = [:]
            for (nameNode, keysNode) in mapping {
                guard let name = nameNode.string, !name.isEmpty else {
                    throw .invalid(source: source, key: "clusters", reason: "has a cluster id that is not a string")
                }
                let path = "clusters.\(name)"
                let items: [Node]
                if let seq = keysNode.sequence { items = Array(seq) } else if keysNode.scalar != nil { items = [keysNode] } else {
                    throw .invalid(source: source, key: path, reason: "must be a list of base64 public keys")
                }
                guard !items.isEmpty else { throw .invalid(source: source, key: path, reason: "lists no key") }
                var keys: [PublicKey] = []
                for (i, item) in items.enumerated() {
                    guard let text = item.string, let key = PublicKey(base64: text) else {
                        throw .invalid(source: source, key: "\(path)[\(i)]", reason: "is not a base64 Ed25519 public key (32 bytes)")
                    }
                    keys.append(key)
                }
                parsed[name] = keys
            }
            clusters = parsed
        }
        guard let clusters else { throw .invalid(source: source, key: "clusters", reason: "is missing") }
        // A key trusted for two clusters would let one cluster speak for the other.
        var owner: [PublicKey: String] = [:]
        for name in clusters.keys.sorted() {
            for key in clusters[name]! {
                if let other = owner[key], other != name {
                    throw .invalid(source: source, key: "clusters.\(name)", reason: "reuses a key already trusted for cluster \(other)")
                }
                owner[key] = name
            }
        }
        // A cluster key is held by every agent of its cluster: it must not also be able to drain clusters.
        for (i, key) in operators.enumerated() {
            if let cluster = owner[key] {
                throw .invalid(source: source, key: "operators[\(i)]", reason: "is cluster \(cluster)'s key; an operator key must be a key of its own (`zone-agent keygen --operator`)")
            }
        }
        self.init(clusters, operators: operators)
    }

    private static func operatorKeys(_ node: Node, source: String) throws(TrustRosterError) -> [PublicKey] {
        let items: [Node]
        if let seq = node.sequence { items = Array(seq) } else if node.scalar != nil { items = [node] } else {
            throw .invalid(source: source, key: "operators", reason: "must be a list of base64 public keys")
        }
        var keys: [PublicKey] = []
        for (i, item) in items.enumerated() {
            guard let text = item.string, let key = PublicKey(base64: text) else {
                throw .invalid(source: source, key: "operators[\(i)]", reason: "is not a base64 Ed25519 public key (32 bytes)")
            }
            if !keys.contains(key) { keys.append(key) }
        }
        return keys
    }

    /// The YAML form, sorted, as `keygen` and tests write it.
    public var yaml: String {
        var out = keysByCluster.isEmpty ? "clusters: {}\n" : "clusters:\n"
        for name in clusters {
            out += "  \(name): [\(keysByCluster[name]!.map(\.base64).joined(separator: ", "))]\n"
        }
        if !operators.isEmpty { out += "operators: [\(operators.map(\.base64).joined(separator: ", "))]\n" }
        return out
    }
}

/// A `trust.yaml` that cannot be used, naming the file, the key and the problem.
public enum TrustRosterError: Error, Equatable, CustomStringConvertible {
    case invalid(source: String, key: String?, reason: String)

    public var description: String {
        switch self {
        case .invalid(let source, let key, let reason):
            if let key { return "\(source): `\(key)` \(reason)" }
            return "\(source) \(reason)"
        }
    }
}
