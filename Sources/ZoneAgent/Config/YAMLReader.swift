#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import WeightTable
import Wire
import Yams

/// The configuration's reader: the shared ``YAMLWalker`` with errors that exit 78 naming the file and the key.
typealias YAMLReader = YAMLWalker<ConfigError>

extension YAMLReader {
    init(file: String) {
        self.init(file: file) { file, key, problem in ConfigError(file: file, key: key, problem: problem) }
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
