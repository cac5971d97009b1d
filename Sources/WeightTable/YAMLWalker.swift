import Yams

/// Walks a YAML document with the key path in hand, so every error can say where it is, and refuses keys it does
/// not know: a typo must not silently disable failover. The one reader of the configuration and of Ingress
/// manifests; each makes its own error type from (file, key path, problem).
public struct YAMLWalker<Failure: Error>: Sendable {
    /// The file (or other source) being read, for errors.
    public let file: String
    private let makeError: @Sendable (_ file: String, _ key: String, _ problem: String) -> Failure

    /// A walker over `file` whose errors `error` makes.
    public init(file: String, error: @escaping @Sendable (_ file: String, _ key: String, _ problem: String) -> Failure) {
        self.file = file
        self.makeError = error
    }

    /// The error for `problem` at `key`.
    public func fail(_ key: String, _ problem: String) -> Failure { makeError(file, key, problem) }

    /// The document's root node; an empty document or one that does not parse is an error naming the file.
    ///
    /// Every reader here takes scalars as text and converts them itself, so the tree is composed with Yams's basic
    /// resolver (every plain scalar a string): its default one resolves tags with seven `NSRegularExpression`s, run
    /// on both sides of every `mapping["key"]` lookup, which costs a daemon ICU's regular-expression engine and data
    /// for nothing. The same holds for the roster, the inline routes and Ingress manifests.
    public func document(_ text: String) throws(Failure) -> Node {
        let parsed: Node?
        do { parsed = try Yams.compose(yaml: text, .basic) } catch { throw fail("", "is not valid YAML: \(error)") }
        guard let parsed else { throw fail("", "is empty") }
        return parsed
    }

    /// The entries of a mapping, after checking that every key is one of `allowed`.
    public func mapping(_ node: Node, at path: String, allowed: [String]) throws(Failure) -> [String: Node] {
        guard let mapping = node.mapping else {
            throw fail(path, "must be a mapping with the keys \(allowed.joined(separator: ", "))")
        }
        var out: [String: Node] = [:]
        for (keyNode, value) in mapping {
            guard let key = keyNode.string else { throw fail(path, "has a key that is not a string") }
            let here = path.isEmpty ? key : "\(path).\(key)"
            guard allowed.contains(key) else {
                let hint = Self.closest(to: key, in: allowed).map { " (did you mean `\($0)`?)" } ?? ""
                throw fail(here, "is not a known key\(hint); known keys here: \(allowed.joined(separator: ", "))")
            }
            guard out[key] == nil else { throw fail(here, "appears twice") }
            out[key] = value
        }
        return out
    }

    /// A mapping whose keys the caller checks (an Ingress, whose fields Kubernetes may extend), in document order.
    public func entries(_ node: Node, at path: String) throws(Failure) -> Node.Mapping {
        guard let mapping = node.mapping else { throw fail(path, "must be a mapping") }
        return mapping
    }

    /// A scalar as text; nil when absent or null (`~`, `null`, or nothing, unquoted).
    public func string(_ node: Node?, at path: String) throws(Failure) -> String? {
        guard let node else { return nil }
        if case .scalar(let scalar) = node {
            if scalar.style == .plain, scalar.string.isEmpty || ["~", "null", "Null", "NULL"].contains(scalar.string) { return nil }
            return scalar.string
        }
        throw fail(path, "must be a string")
    }

    /// A scalar that must be there and not empty; `missing` says what is wrong otherwise.
    public func requiredString(_ node: Node?, at path: String, missing: String = "is required") throws(Failure) -> String {
        guard let s = try string(node, at: path), !s.isEmpty else { throw fail(path, missing) }
        return s
    }

    /// A whole number within `range`.
    public func int(_ node: Node?, at path: String, range: ClosedRange<Int>) throws(Failure) -> Int? {
        guard let text = try string(node, at: path) else { return nil }
        guard let v = Int(text), range.contains(v) else {
            throw fail(path, "`\(text)` is not a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return v
    }

    /// A list; absent is empty.
    public func list(_ node: Node?, at path: String) throws(Failure) -> [Node] {
        guard let node else { return [] }
        if let seq = node.sequence { return Array(seq) }
        throw fail(path, "must be a list")
    }

    /// A close spelling among `candidates` (edit distance ≤ 2), for "did you mean".
    public static func closest(to word: String, in candidates: [String]) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var previous = Array(0...b.count)
            for i in 1...max(a.count, 1) where !a.isEmpty {
                var current = [i] + Array(repeating: 0, count: b.count)
                for j in 1...max(b.count, 1) where !b.isEmpty {
                    current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                }
                previous = current
            }
            return previous[b.count]
        }
        let scored = candidates.map { ($0, distance(Array(word), Array($0))) }.filter { $0.1 <= 2 }
        return scored.min { $0.1 < $1.1 }?.0
    }
}
