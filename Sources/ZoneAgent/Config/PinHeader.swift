import Yams

/// `proxy.pinHeader`: the name of the header that pins a request to one cluster.
enum PinHeader {
    /// Headers the proxy reads or writes itself, or that frame the request: pinning by one of them would change
    /// what the upstream is sent, so they are refused.
    static let reserved: Set<String> = [
        "host", "content-length", "transfer-encoding", "connection", "keep-alive", "te", "trailer", "upgrade", "expect",
        "proxy-connection", "x-forwarded-for", "forwarded", "x-zone-cluster",
    ]

    /// The header name, lower-cased, or nil when the key is absent; a name that is not an HTTP token, or a
    /// reserved one, is refused.
    static func parse(_ node: Node?, at path: String, y: YAMLReader) throws(ConfigError) -> String? {
        guard let raw = try y.string(node, at: path) else { return nil }
        let name = raw.lowercased()
        // RFC 9110 token characters, less the rarely used punctuation: letters, digits, '-', '_' and '.'.
        let isToken = !name.isEmpty && name.utf8.count <= 64 && name.utf8.allSatisfy { c in
            (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c == 0x2d || c == 0x5f || c == 0x2e
        }
        guard isToken else {
            throw y.fail(path, "`\(raw)` is not a header name (letters, digits, '-', '_' and '.', at most 64), e.g. x-zone-cluster-pin")
        }
        guard !reserved.contains(name) else {
            throw y.fail(path, "`\(raw)` is a header the proxy reads or writes itself; use a name of its own, e.g. x-zone-cluster-pin")
        }
        return name
    }
}
