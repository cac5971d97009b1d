#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Wire
import Yams

/// Walks a YAML document with the key path in hand, so every error can say where it is, and refuses keys it
/// does not know: a typo must not silently disable failover.
struct YAMLReader {
    let file: String

    func fail(_ key: String, _ problem: String) -> ConfigError {
        ConfigError(file: file, key: key, problem: problem)
    }

    /// The document's root node; an empty document or one that does not parse is an error naming the file.
    func document(_ text: String) throws(ConfigError) -> Node {
        do {
            guard let node = try Yams.compose(yaml: text) else { throw fail("", "is empty") }
            return node
        } catch let error as ConfigError {
            throw error
        } catch {
            throw fail("", "is not valid YAML: \(error)")
        }
    }

    /// The entries of a mapping, after checking that every key is one of `allowed`.
    func mapping(_ node: Node, at path: String, allowed: [String]) throws(ConfigError) -> [String: Node] {
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

    func string(_ node: Node?, at path: String) throws(ConfigError) -> String? {
        guard let node else { return nil }
        if case .scalar(let scalar) = node {
            if scalar.string == "~" || (scalar.string == "null" && scalar.style == .plain) { return nil }
            return scalar.string
        }
        throw fail(path, "must be a string")
    }

    func requiredString(_ node: Node?, at path: String) throws(ConfigError) -> String {
        guard let s = try string(node, at: path), !s.isEmpty else { throw fail(path, "is required") }
        return s
    }

    func int(_ node: Node?, at path: String, range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        guard let text = try string(node, at: path) else { return nil }
        guard let v = Int(text), range.contains(v) else {
            throw fail(path, "`\(text)` is not a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return v
    }

    func duration(_ node: Node?, at path: String) throws(ConfigError) -> Duration? {
        guard let text = try string(node, at: path) else { return nil }
        guard let d = DurationText.parse(text), d > .zero else {
            throw fail(path, "`\(text)` is not a duration such as 500ms, 1s or 2m")
        }
        return d
    }

    func address(_ node: Node?, at path: String) throws(ConfigError) -> HostPort? {
        guard let text = try string(node, at: path) else { return nil }
        guard let a = HostPort(text) else { throw fail(path, "`\(text)` is not a host:port address") }
        return a
    }

    func list(_ node: Node?, at path: String) throws(ConfigError) -> [Node] {
        guard let node else { return [] }
        if let seq = node.sequence { return Array(seq) }
        throw fail(path, "must be a list")
    }

    /// A close spelling among `candidates` (edit distance ≤ 2), for "did you mean".
    static func closest(to word: String, in candidates: [String]) -> String? {
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

/// `host:port` as written in the configuration; the host may be a name (DNS) or a numeric address.
struct HostPort: Hashable, Sendable, CustomStringConvertible {
    var host: String
    var port: Int

    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    init?(_ text: String) {
        guard let (hostPart, portPart) = PeerAddress.split(text) else { return nil }
        guard !hostPart.isEmpty, hostPart.allSatisfy({ $0.isLetter || $0.isNumber || "-._:".contains($0) }),
              let port = Int(portPart), (0...65535).contains(port) else { return nil }
        self.init(host: String(hostPart), port: port)
    }

    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Durations written like `1s`, `500ms`, `2m`, `1m30s`, `1h`.
enum DurationText {
    static func parse(_ text: String) -> Duration? {
        var total = Duration.zero
        var digits = ""
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            digits = String(rest.prefix { $0.isNumber || $0 == "." })
            rest = rest.dropFirst(digits.count)
            let unit = String(rest.prefix { $0.isLetter })
            rest = rest.dropFirst(unit.count)
            // Bounded well below Int64 milliseconds, so no written duration can trap.
            guard let value = Double(digits), value >= 0, value <= 1e12 else { return nil }
            let millis: Double
            switch unit {
            case "ms": millis = value
            case "s": millis = value * 1000
            case "m": millis = value * 60_000
            case "h": millis = value * 3_600_000
            default: return nil
            }
            total += .milliseconds(Int64(millis.rounded()))
        }
        return total
    }

    /// Writes a duration the way the configuration does.
    static func format(_ d: Duration) -> String {
        let ms = d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
        if ms % 60_000 == 0, ms > 0 { return "\(ms / 60_000)m" }
        if ms % 1000 == 0, ms > 0 { return "\(ms / 1000)s" }
        return "\(ms)ms"
    }
}
