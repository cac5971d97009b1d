// Path normalisation before routing, as Envoy's `normalize_path` and `merge_slashes` do: a request is
// routed by the path the upstream will act on, so `/svc1/../admin` can never reach a route that
// `/admin` would not. The normalised path is also the one forwarded, so no upstream sees a dot segment.

/// The path of a request target, normalised for routing and forwarding.
///
/// What is done, in order (RFC 3986 §6.2.2):
/// - `%2E`/`%2e` is decoded to `.` (an unreserved character, equivalent encoded or not, §2.3), so an
///   encoded dot segment is a dot segment;
/// - runs of `/` are merged into one (nginx's `merge_slashes`, Envoy's `merge_slashes`): servers disagree on
///   what an empty segment means, and most merge them;
/// - dot segments are removed (§5.2.4 `remove_dot_segments`); `..` above the root stays at the root.
///
/// What is refused with 400, because upstreams disagree on its meaning and no normal form is safe:
/// - `%2F` and `%5C` (an encoded `/` or `\`): some servers decode them into separators after routing;
/// - a raw `\` (a separator on some servers);
/// - a dot segment with parameters (`..;x`, which Tomcat reads as `..`);
/// - a malformed escape (`%` not followed by two hex digits);
/// - a path that does not start with `/` (other than the asterisk form `*`).
///
/// Every other escape (`%41`, `%20`, ...) is left exactly as the client wrote it.
enum RequestPath {
    /// The outcome of ``normalize(_:)``.
    enum Outcome: Equatable {
        /// The path is already normal: forward the target unchanged (the common case, no allocation).
        case unchanged
        /// The normal form of the path.
        case normalized(String)
        /// The path is ambiguous or malformed; the reason is for the 400 answer.
        case invalid(StaticString)

        static func == (a: Outcome, b: Outcome) -> Bool {
            switch (a, b) {
            case (.unchanged, .unchanged): return true
            case let (.normalized(x), .normalized(y)): return x == y
            case let (.invalid(x), .invalid(y)): return x.description == y.description
            default: return false
            }
        }
    }

    /// Normalises a path (the target without its query); see the type's documentation for the rules.
    static func normalize(_ path: Substring) -> Outcome {
        let bytes = path.utf8
        guard let first = bytes.first else { return .invalid("the request target is empty\n") }
        if first != UInt8(ascii: "/") {
            return path == "*" ? .unchanged : .invalid("the request path must start with /\n")
        }
        // Fast path: one scan, nothing to do unless a `.` follows a `/`, a `/` follows a `/`, or there is a `%` or `\`.
        let needsWork = bytes.withContiguousStorageIfAvailable(needsNormalizing) ?? needsNormalizing(bytes)
        guard needsWork else { return .unchanged }
        return normalizeSlowly(Array(bytes))
    }

    private static func needsNormalizing<C: Collection<UInt8>>(_ bytes: C) -> Bool {
        var previous: UInt8 = 0
        for byte in bytes {
            if byte == UInt8(ascii: "%") || byte == UInt8(ascii: "\\")
                || (previous == UInt8(ascii: "/") && (byte == UInt8(ascii: ".") || byte == UInt8(ascii: "/"))) {
                return true
            }
            previous = byte
        }
        return false
    }

    private static func normalizeSlowly(_ input: [UInt8]) -> Outcome {
        // 1. Decode %2E, refuse encoded separators and malformed escapes.
        var decoded: [UInt8] = []
        decoded.reserveCapacity(input.count)
        var i = 0
        while i < input.count {
            let byte = input[i]
            if byte == UInt8(ascii: "\\") { return .invalid("a backslash in the path is ambiguous\n") }
            guard byte == UInt8(ascii: "%") else {
                decoded.append(byte)
                i += 1
                continue
            }
            guard i + 2 < input.count, let high = hexValue(input[i + 1]), let low = hexValue(input[i + 2]) else {
                return .invalid("a malformed percent-escape in the path\n")
            }
            switch high << 4 | low {
            case 0x2E:
                decoded.append(UInt8(ascii: "."))
            case 0x2F, 0x5C:
                return .invalid("an encoded slash or backslash in the path is ambiguous\n")
            default:
                decoded.append(contentsOf: input[i...(i + 2)])
            }
            i += 3
        }

        // 2. Merge slashes and remove dot segments, segment by segment.
        var segments: [ArraySlice<UInt8>] = []
        var trailingSlash = false
        for segment in decoded.dropFirst().split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            trailingSlash = false
            if segment.isEmpty || isDot(segment) {
                trailingSlash = true
            } else if isDotDot(segment) {
                if !segments.isEmpty { segments.removeLast() }
                trailingSlash = true
            } else if let semicolon = segment.firstIndex(of: UInt8(ascii: ";")),
                      isDot(segment[..<semicolon]) || isDotDot(segment[..<semicolon]) {
                return .invalid("a dot segment with parameters in the path is ambiguous\n")
            } else {
                segments.append(segment)
            }
        }
        var out: [UInt8] = [UInt8(ascii: "/")]
        out.reserveCapacity(decoded.count)
        for (n, segment) in segments.enumerated() {
            if n > 0 { out.append(UInt8(ascii: "/")) }
            out.append(contentsOf: segment)
        }
        if trailingSlash && !segments.isEmpty { out.append(UInt8(ascii: "/")) }
        if out == input { return .unchanged }
        return .normalized(String(decoding: out, as: UTF8.self))
    }

    private static func isDot(_ s: ArraySlice<UInt8>) -> Bool {
        s.count == 1 && s.first == UInt8(ascii: ".")
    }

    private static func isDotDot(_ s: ArraySlice<UInt8>) -> Bool {
        s.count == 2 && s.first == UInt8(ascii: ".") && s.last == UInt8(ascii: ".")
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
