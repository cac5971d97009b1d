// Header rewriting between the two hops. A proxy must not forward headers that describe one
// connection (RFC 9110 §7.6.1): its own framing and keep-alive are decided per hop.
import NIOHTTP1

enum HopByHop {
    /// Whether a field name is hop-by-hop by definition (not counting those `Connection` lists): the
    /// one list of them, for both hops. RFC 9110 §7.6.1 names `Connection`, `Proxy-Connection`,
    /// `Keep-Alive`, `TE`, `Transfer-Encoding` and `Upgrade`; `Trailer` and every `Proxy-*` field
    /// (credentials for this proxy, never for the upstream) go too.
    static func isHopByHop<Name: Collection<UInt8>>(_ name: Name) -> Bool {
        switch name.count {
        case 2: return equalsLowercase(name, "te")
        case 7: return equalsLowercase(name, "upgrade") || equalsLowercase(name, "trailer")
        case 10: return equalsLowercase(name, "connection") || equalsLowercase(name, "keep-alive")
        case 17: return equalsLowercase(name, "transfer-encoding")
        default: return name.count > 6 && equalsLowercase(name.prefix(6), "proxy-")
        }
    }

    /// Whether a field name (a string) is hop-by-hop by definition.
    static func isHopByHop(_ name: String) -> Bool {
        var name = name
        return name.withUTF8 { isHopByHop($0) }
    }

    /// Whether `bytes` equal the lowercase ASCII `literal`, ignoring the case of `bytes`.
    @inline(__always)
    static func equalsLowercase<Bytes: Collection<UInt8>>(_ bytes: Bytes, _ literal: StaticString) -> Bool {
        guard bytes.count == literal.utf8CodeUnitCount else { return false }
        var i = 0
        let lit = literal.utf8Start
        for byte in bytes {
            guard lower(byte) == lit[i] else { return false }
            i += 1
        }
        return true
    }

    /// What a field name means to the proxy, by one length switch and at most two comparisons.
    enum FieldRole {
        /// An end-to-end field the proxy passes on.
        case plain
        /// Hop-by-hop by definition (`TE`, `Upgrade`, `Trailer`, `Keep-Alive`, `Proxy-*`): never forwarded.
        case hopByHop
        case connection
        case transferEncoding
        case contentLength
        case host
        case expect
        case forwardedFor
        case forwarded
        /// `close`: a `Connection` option, not a field name.
        case closeOrKeepAlive
    }

    /// The role of a field name (or of a token the `Connection` header lists).
    static func role<S: StringProtocol>(of name: S) -> FieldRole {
        let role: FieldRole
        switch name.utf8.count {
        case 4: role = equalsIgnoringCase(name, "host") ? .host : .plain
        case 5: role = equalsIgnoringCase(name, "close") ? .closeOrKeepAlive : .plain
        case 6: role = equalsIgnoringCase(name, "expect") ? .expect : .plain
        case 9: role = equalsIgnoringCase(name, "forwarded") ? .forwarded : .plain
        case 10: role = equalsIgnoringCase(name, "connection") ? .connection : .plain
        case 14: role = equalsIgnoringCase(name, "content-length") ? .contentLength : .plain
        case 15: role = equalsIgnoringCase(name, "x-forwarded-for") ? .forwardedFor : .plain
        case 17: role = equalsIgnoringCase(name, "transfer-encoding") ? .transferEncoding : .plain
        default: role = .plain
        }
        if case .plain = role, isHopByHop(name.utf8) { return .hopByHop }
        return role
    }

    /// ASCII case-insensitive equality; field names are ASCII tokens.
    static func equalsIgnoringCase<A: StringProtocol, B: StringProtocol>(_ a: A, _ b: B) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        // Over the bytes in place where both are contiguous (native strings are): a zip of the two views cost
        // about 1,400 instructions per request, ten names compared (callgrind).
        let inPlace = a.utf8.withContiguousStorageIfAvailable { x in
            b.utf8.withContiguousStorageIfAvailable { y in
                for i in 0..<x.count where lower(x[i]) != lower(y[i]) { return false }
                return true
            }
        }
        if let inPlace, let equal = inPlace { return equal }
        return zip(a.utf8, b.utf8).allSatisfy { lower($0) == lower($1) }
    }

    static func hasPrefixIgnoringCase<S: StringProtocol>(_ s: S, _ prefix: String) -> Bool {
        guard s.utf8.count >= prefix.utf8.count else { return false }
        return zip(s.utf8, prefix.utf8).allSatisfy { lower($0) == lower($1) }
    }

    @inline(__always)
    static func lower(_ byte: UInt8) -> UInt8 {
        (byte >= 65 && byte <= 90) ? byte | 0x20 : byte
    }

    static func trimmed(_ s: Substring) -> Substring {
        // Over the UTF-8 view: by Character, each end looked at is a grapheme break.
        let bytes = s.utf8
        var start = bytes.startIndex, end = bytes.endIndex
        while start < end, bytes[start] == 0x20 || bytes[start] == 0x09 { start = bytes.index(after: start) }
        while start < end {
            let last = bytes.index(before: end)
            guard bytes[last] == 0x20 || bytes[last] == 0x09 else { break }
            end = last
        }
        return Substring(bytes[start..<end])
    }
}

enum RequestTarget {
    /// The host to route by: `Host` without its port, lowercased; for an absolute-form target the
    /// authority in the target wins, as RFC 9112 §3.2.2 asks.
    static func routingHost(uri: String, headers: HTTPHeaders) -> String {
        if let absolute = absoluteAuthority(uri) { return host(of: absolute) }
        if let host = headers.first(name: "host") { return Self.host(of: host[...]) }
        return ""
    }

    /// An authority without its port, lowercased.
    static func host(of authority: Substring) -> String {
        var authority = authority
        // Searched as bytes in place: the delimiters are ASCII. A search by Character (grapheme breaking, a String
        // per Character) cost about 5,000 instructions per request, 7% of the proxy's; one over the UTF-8 view's
        // indices still 900 (callgrind).
        return authority.withUTF8 { bytes in
            var end = bytes.count
            if bytes.first == UInt8(ascii: "[") {
                // An IPv6 literal: the port, if any, follows the closing bracket.
                if let close = bytes.firstIndex(of: UInt8(ascii: "]")) { end = close + 1 }
            } else if let colon = bytes.lastIndex(of: UInt8(ascii: ":")) {
                end = colon
            }
            let host = UnsafeBufferPointer(rebasing: bytes[..<end])
            let name = String(decoding: host, as: UTF8.self)
            return host.contains(where: { $0 >= 65 && $0 <= 90 }) ? name.lowercased() : name
        }
    }

    /// The path to route by: the target without query, and without scheme and authority when absolute.
    static func path(uri: String) -> String {
        var rest = uri[...]
        if let afterScheme = afterScheme(uri) {
            rest = afterScheme.firstIndex(of: "/").map { afterScheme[$0...] } ?? "/"
        }
        guard let query = rest.utf8.firstIndex(where: { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }) else {
            return rest.startIndex == uri.startIndex && rest.endIndex == uri.endIndex ? uri : String(rest)
        }
        return String(rest[..<query])
    }

    /// What follows `scheme://` in an absolute-form target, or nil for the usual origin form (`/path`).
    private static func afterScheme(_ uri: String) -> Substring? {
        guard let first = uri.utf8.first, first != UInt8(ascii: "/") else { return nil }
        guard let colon = uri.utf8.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        let rest = uri[uri.utf8.index(after: colon)...]
        guard rest.hasPrefix("//") else { return nil }
        return rest.dropFirst(2)
    }

    /// The path of the target (without scheme, authority, query or fragment) and what follows it
    /// (the query and fragment, with their `?` or `#`). An absolute-form target without a path has an empty one.
    static func split(uri: String) -> (path: Substring, rest: Substring) {
        var origin = uri[...]
        if let after = afterScheme(uri) {
            origin = after[(after.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? after.endIndex)...]
        }
        // Bytes, not characters: no grapheme breaking on the hot path.
        let end = origin.utf8.firstIndex(where: { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }) ?? origin.endIndex
        return (origin[..<end], origin[end...])
    }

    /// The authority of an absolute-form target (`http://host:port/...`), or nil for the origin form.
    static func absoluteAuthority(_ uri: String) -> Substring? {
        guard let afterScheme = afterScheme(uri) else { return nil }
        let end = afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? afterScheme.endIndex
        return afterScheme[..<end]
    }
}
