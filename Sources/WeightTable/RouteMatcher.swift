/// Finds the route for a request's host and path, as Kubernetes matches Ingress rules.
///
/// Hosts: an exact host first, then a `*.` wildcard (one label), then rules without a host. Within a host:
/// an Exact path before any Prefix, and the longest Prefix first. Prefixes match element-wise, so `/svc1`
/// matches `/svc1` and `/svc1/x` but not `/svc10`, and `/` matches everything.
struct RouteMatcher: Sendable {
    struct Candidate: Sendable {
        var route: Int
        /// The path, without a trailing slash for prefixes (Kubernetes treats `/a/` and `/a` alike).
        var path: String
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
            let candidate = Candidate(route: index, path: path, exact: route.pathType == .exact)
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
            if a.path.utf8.count != b.path.utf8.count { return a.path.utf8.count > b.path.utf8.count }
            return a.route < b.route
        }
    }

    func route(host rawHost: String, path rawPath: String) -> Int? {
        let host = Self.normalizedHost(rawHost)
        let path = Self.pathOnly(rawPath)
        if let candidates = byHost[host], let match = Self.first(candidates, path) { return match }
        for wildcard in wildcards {
            let suffix = wildcard.suffix.utf8
            let h = host.utf8
            guard h.count > suffix.count, h.reversed().starts(with: suffix.reversed()) else { continue }
            let label = h.prefix(h.count - suffix.count)
            guard !label.isEmpty, !label.contains(UInt8(ascii: ".")) else { continue }
            if let match = Self.first(wildcard.candidates, path) { return match }
        }
        return Self.first(anyHost, path)
    }

    static func first(_ candidates: [Candidate], _ path: Substring) -> Int? {
        for candidate in candidates where matches(candidate, path) { return candidate.route }
        return nil
    }

    static func matches(_ candidate: Candidate, _ path: Substring) -> Bool {
        let want = candidate.path.utf8
        let have = path.utf8
        if candidate.exact { return have.elementsEqual(want) }
        if want.count == 1 { return true }  // "/" matches every path
        guard have.starts(with: want) else { return false }
        if have.count == want.count { return true }
        return have[have.index(have.startIndex, offsetBy: want.count)] == UInt8(ascii: "/")
    }

    /// The path without query or fragment.
    static func pathOnly(_ path: String) -> Substring {
        if let cut = path.utf8.firstIndex(where: { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }) {
            return path[..<cut]
        }
        return path[...]
    }

    /// The host lower-cased, without port or trailing dot.
    static func normalizedHost(_ host: String) -> String {
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
