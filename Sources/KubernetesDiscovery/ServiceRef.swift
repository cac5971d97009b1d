/// A Kubernetes Service named by its namespace and name, as the configuration writes it (`NAMESPACE/NAME`).
public struct ServiceRef: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The namespace the Service lives in.
    public var namespace: String
    /// The Service's name within its namespace.
    public var name: String

    /// Creates a reference from its two parts, without validating them.
    public init(namespace: String, name: String) {
        self.namespace = namespace
        self.name = name
    }

    /// Parses `NAMESPACE/NAME`, checking both parts are valid Kubernetes names.
    ///
    /// Both parts must be DNS-1123 labels (lower-case letters, digits and `-`, at most 63 characters,
    /// starting and ending with a letter or digit): that is what Kubernetes accepts for namespaces and
    /// Service names, and checking here turns a typo into a configuration error instead of a watch that
    /// silently never finds anything.
    public init(parsing text: String) throws(KubernetesDiscoveryError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw .invalidServiceReference(text, reason: "expected NAMESPACE/NAME with exactly one '/'")
        }
        let namespace = String(parts[0])
        let name = String(parts[1])
        if let problem = Self.labelProblem(namespace) {
            throw .invalidServiceReference(text, reason: "the namespace \(problem)")
        }
        if let problem = Self.labelProblem(name) {
            throw .invalidServiceReference(text, reason: "the service name \(problem)")
        }
        self.init(namespace: namespace, name: name)
    }

    /// The reference as `NAMESPACE/NAME`.
    public var description: String { "\(namespace)/\(name)" }

    /// Orders by namespace, then name, so logs and snapshots list services in a stable order.
    public static func < (lhs: ServiceRef, rhs: ServiceRef) -> Bool {
        (lhs.namespace, lhs.name) < (rhs.namespace, rhs.name)
    }

    private static func labelProblem(_ label: String) -> String? {
        if label.isEmpty { return "is empty" }
        if label.utf8.count > 63 { return "is longer than 63 characters" }
        let allowed = label.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: "-")
        }
        if !allowed { return "'\(label)' may contain only lower-case letters, digits and '-'" }
        if label.utf8.first == UInt8(ascii: "-") || label.utf8.last == UInt8(ascii: "-") {
            return "'\(label)' must start and end with a letter or digit"
        }
        return nil
    }
}
