import Wire

/// One endpoint of a service, without its health: the unit the table counts and routes to.
struct EndpointKey: Hashable, Comparable {
    var host: String
    var port: UInt16

    static func < (a: EndpointKey, b: EndpointKey) -> Bool { (a.host, a.port) < (b.host, b.port) }
}

/// What the live agents of one cluster say about one service, merged.
struct ServiceEvidence {
    /// How many live agents report anything for the service: they vouch for the cluster on its routes.
    var vouchers: Int
    /// Endpoints that some voucher reports healthy, sorted by host and port.
    var healthy: [EndpointKey]
    /// Endpoints reported in any state.
    var total: Int
}

/// The digests that count, indexed per cluster and service. Merging is union and "any healthy", both
/// commutative and idempotent, so digest order and repetition cannot change the result.
struct Evidence {
    /// Per cluster and service, one sorted run of endpoints per vouching agent.
    private var runs: [String: [String: [ArraySlice<EndpointHealth>]]] = [:]

    init(members: [MemberView], digests: [HealthDigest], services: Set<String>) {
        var live: [String: MemberView] = [:]
        for member in members where member.isLive && !member.cluster.isEmpty {
            live[member.name] = member
        }
        for digest in Self.newestPerOrigin(digests).values {
            guard let member = live[digest.origin.name], member.cluster == digest.origin.cluster else { continue }
            if let generation = member.generation, generation != digest.origin.generation { continue }
            index(digest, cluster: member.cluster, services: services)
        }
    }

    private mutating func index(_ digest: HealthDigest, cluster: String, services: Set<String>) {
        var perService = runs.removeValue(forKey: cluster) ?? [:]
        let endpoints = digest.endpoints
        var start = endpoints.startIndex
        // Digest endpoints are sorted by service, so each service is one run; binary search finds its end.
        while start < endpoints.endIndex {
            let service = endpoints[start].service
            var low = start + 1
            var high = endpoints.endIndex
            while low < high {
                let mid = (low + high) / 2
                if endpoints[mid].service == service { low = mid + 1 } else { high = mid }
            }
            if services.contains(service) { perService[service, default: []].append(endpoints[start..<low]) }
            start = low
        }
        runs[cluster] = perService
    }

    /// The merged evidence for `service` in `cluster`, or nil when no live agent of it reports the service.
    func evidence(cluster: String, service: String) -> ServiceEvidence? {
        guard let sources = runs[cluster]?[service], !sources.isEmpty else { return nil }
        var healthy: [EndpointKey] = []
        var total = 0
        if sources.count == 1 {
            for endpoint in sources[0] where endpoint.state == .healthy {
                healthy.append(EndpointKey(host: endpoint.host, port: endpoint.port))
            }
            return ServiceEvidence(vouchers: 1, healthy: healthy, total: sources[0].count)
        }
        // A k-way merge of runs sorted by (host, port); agents of one cluster mostly report the same list,
        // so the heads are usually equal and the merge is a lockstep walk.
        var heads = sources.map(\.startIndex)
        while true {
            var smallest: EndpointHealth?
            for (i, run) in sources.enumerated() where heads[i] < run.endIndex {
                let candidate = run[heads[i]]
                if let current = smallest {
                    if candidate.host == current.host ? candidate.port < current.port : candidate.host < current.host {
                        smallest = candidate
                    }
                } else {
                    smallest = candidate
                }
            }
            guard let next = smallest else { break }
            var isHealthy = false
            for (i, run) in sources.enumerated() where heads[i] < run.endIndex {
                let candidate = run[heads[i]]
                if candidate.port == next.port && candidate.host == next.host {
                    isHealthy = isHealthy || candidate.state == .healthy
                    heads[i] += 1
                }
            }
            total += 1
            if isHealthy { healthy.append(EndpointKey(host: next.host, port: next.port)) }
        }
        return ServiceEvidence(vouchers: sources.count, healthy: healthy, total: total)
    }

    /// Keeps one digest per origin: the newest by (generation, version), ties broken by content so that
    /// the choice never depends on arrival order.
    static func newestPerOrigin(_ digests: [HealthDigest]) -> [String: HealthDigest] {
        var newest: [String: HealthDigest] = [:]
        for digest in digests {
            guard let current = newest[digest.origin.name] else {
                newest[digest.origin.name] = digest
                continue
            }
            if supersedes(digest, current) { newest[digest.origin.name] = digest }
        }
        return newest
    }

    static func supersedes(_ a: HealthDigest, _ b: HealthDigest) -> Bool {
        if a.order != b.order { return a.order > b.order }
        if a.incarnation != b.incarnation { return a.incarnation > b.incarnation }
        if a.issuedAtMillis != b.issuedAtMillis { return a.issuedAtMillis > b.issuedAtMillis }
        if a.origin.cluster != b.origin.cluster { return a.origin.cluster > b.origin.cluster }
        if a.endpoints != b.endpoints { return a.endpoints.lexicographicallyPrecedes(b.endpoints) }
        return false
    }
}
