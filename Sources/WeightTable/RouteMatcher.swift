/// Finds the route for a request's host and path, as Kubernetes matches Ingress rules.
///
/// Hosts: an exact host first, then a `*.` wildcard (one label), then rules without a host. Within a host:
/// an Exact path before any Prefix, and the longest Prefix first. Prefixes match element-wise, so `/svc1`
/// matches `/svc1` and `/svc1/x` but not `/svc10`, and `/` matches everything.
struct RouteMatcher: Sendable {
    struct Candidate: Sendable {
        var route: Int
        /// The path's bytes, without a trailing slash for prefixes (Kubernetes treats `/a/` and `/a` alike).
        var bytes: [UInt8]
        var exact: Bool
    }

    private var byHost: [String: [Candidate]] = [:]
    private var wildcards: [(suffix: String, candidates: [Candidate])] = []
    private var anyHost: [Candidate] = []

    init(routes: [RouteSpec]) {
        var byHost: [String: [Candidate]] = [:]
        var wildcardsBySuffix: [String: [Candidate]] = [:]
        var anyHost: [Candidate] = []
        for (index, route) in routes.enumerated() {
            var path = route.path
            if route.pathType == .prefix { while path.count > 1 && path.hasSuffix("/") { path.removeLast() } }
            let candidate = Candidate(route: index, bytes: Array(path.utf8), exact: route.pathType == .exact)
            if route.host.isEmpty {
                anyHost.append(candidate)
            } else if route.host.hasPrefix("*.") {
                wildcardsBySuffix[String(route.host.dropFirst(1)), default: []].append(candidate)
            } else {
                byHost[route.host, default: []].append(candidate)
            }
        }
        self.byHost = byHost.mapValues(Self.ordered)
        // Longer wildcard suffixes are more specific.
        self.wildcards = wildcardsBySuffix.map { ($0.key, Self.ordered($0.value)) }
            .sorted { $0.suffix.utf8.count != $1.suffix.utf8.count ? $0.suffix.utf8.count > $1.suffix.utf8.count : $0.suffix < $1.suffix }
        self.anyHost = Self.ordered(anyHost)
    }

    static func ordered(_ candidates: [Candidate]) -> [Candidate] {
        candidates.sorted { a, b in
            if a.exact != b.exact { return a.exact }
            if a.bytes.count != b.bytes.count { return a.bytes.count > b.bytes.count }
            return a.route < b.route
        }
    }

    func route(host rawHost: String, path rawPath: String) -> Int? {
        let host = Self.normalizedHost(rawHost)
        let lookup = { (bytes: UnsafeBufferPointer<UInt8>) -> Int? in
            var length = bytes.count
            if let cut = bytes.firstIndex(where: { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }) { length = cut }
            let path = UnsafeBufferPointer(rebasing: bytes[0..<length])
            return self.route(host: host, path: path)
        }
        if let found = rawPath.utf8.withContiguousStorageIfAvailable(lookup) { return found }
        return Array(rawPath.utf8).withUnsafeBufferPointer(lookup)
    }

    private func route(host: String, path: UnsafeBufferPointer<UInt8>) -> Int? {
        if let candidates = byHost[host], let match = Self.first(candidates, path) { return match }
        if !wildcards.isEmpty {
            let h = host.utf8
            for wildcard in wildcards {
                let suffix = wildcard.suffix.utf8
                guard h.count > suffix.count, h.reversed().starts(with: suffix.reversed()) else { continue }
                let label = h.prefix(h.count - suffix.count)
                guard !label.contains(UInt8(ascii: ".")) else { continue }
                if let match = Self.first(wildcard.candidates, path) { return match }
            }
        }
        return Self.first(anyHost, path)
    }

    static func first(_ candidates: [Candidate], _ path: UnsafeBufferPointer<UInt8>) -> Int? {
        for candidate in candidates where matches(candidate, path) { return candidate.route }
        return nil
    }

    static func matches(_ candidate: Candidate, _ path: UnsafeBufferPointer<UInt8>) -> Bool {
        candidate.bytes.withUnsafeBufferPointer { want in
            if candidate.exact { return path.count == want.count && hasPrefix(path, want) }
            if want.count == 1 { return true }  // "/" matches every path
            guard path.count >= want.count, hasPrefix(path, want) else { return false }
            return path.count == want.count || path[want.count] == UInt8(ascii: "/")
        }
    }

    @inline(__always)
    static func hasPrefix(_ path: UnsafeBufferPointer<UInt8>, _ prefix: UnsafeBufferPointer<UInt8>) -> Bool {
        guard path.count >= prefix.count else { return false }
        var i = 0
        while i < prefix.count {
            if path[i] != prefix[i] { return false }
            i &+= 1
        }
        return true
    }

    /// The host lower-cased, without port or trailing dot.
    static func normalizedHost(_ host: String) -> String {
        // The common case, a plain lower-case name, needs no new string.
        let plain = host.utf8.withContiguousStorageIfAvailable { bytes in
            var i = 0
            while i < bytes.count {
                let c = bytes[i]
                if c == UInt8(ascii: ":") || (c >= 0x41 && c <= 0x5a) { return false }
                i &+= 1
            }
            return bytes.last != UInt8(ascii: ".")
        }
        if plain == true { return host }
        var text = Substring(host)
        if text.hasPrefix("[") {
            if let close = text.firstIndex(of: "]") { text = text[text.startIndex...close] }
        } else if let colon = text.firstIndex(of: ":"), text[text.index(after: colon)...].firstIndex(of: ":") == nil {
            text = text[..<colon]
        }
        if text.hasSuffix(".") { text = text.dropLast() }
        if text.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5a }) { return text.lowercased() }
        return String(text)
    }
}
