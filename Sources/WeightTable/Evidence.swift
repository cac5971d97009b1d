import Wire

/// One endpoint of a service, without its health: the unit the table counts and routes to.
struct EndpointKey: Hashable, Comparable {
    var host: String
    var port: UInt16

    static func < (a: EndpointKey, b: EndpointKey) -> Bool { (a.host, a.port) < (b.host, b.port) }
}

/// What the live agents of one cluster say about one service.
struct ServiceEvidence {
    /// The live agents that report anything for the service: they vouch for the cluster on its routes.
    var vouchers: Set<String> = []
    /// Every endpoint reported, and whether any voucher reports it healthy.
    var endpoints: [EndpointKey: Bool] = [:]

    var healthyEndpoints: [EndpointKey] { endpoints.compactMap { $0.value ? $0.key : nil }.sorted() }
}

/// The digests that count, folded per cluster and service. Folding is union and "any healthy", both
/// commutative and idempotent, so digest order and repetition cannot change the result.
struct Evidence {
    private(set) var byCluster: [String: [String: ServiceEvidence]] = [:]

    init(members: [MemberView], digests: [HealthDigest], services: Set<String>) {
        var live: [String: MemberView] = [:]
        for member in members where member.isLive && !member.cluster.isEmpty {
            live[member.name] = member
        }
        for digest in Self.newestPerOrigin(digests).values {
            guard let member = live[digest.origin.name], member.cluster == digest.origin.cluster else { continue }
            if let generation = member.generation, generation != digest.origin.generation { continue }
            fold(digest, cluster: member.cluster, services: services)
        }
    }

    func evidence(cluster: String, service: String) -> ServiceEvidence? { byCluster[cluster]?[service] }

    private mutating func fold(_ digest: HealthDigest, cluster: String, services: Set<String>) {
        var perService = byCluster[cluster] ?? [:]
        byCluster[cluster] = nil  // keeps the inner dictionaries uniquely referenced while they grow
        let endpoints = digest.endpoints
        var index = 0
        // Digest endpoints are sorted by service, so each service is one run: look it up once per run.
        while index < endpoints.count {
            let service = endpoints[index].service
            var end = index + 1
            while end < endpoints.count && endpoints[end].service == service { end += 1 }
            if services.contains(service) {
                var evidence = perService.removeValue(forKey: service) ?? ServiceEvidence()
                evidence.vouchers.insert(digest.origin.name)
                evidence.endpoints.reserveCapacity(evidence.endpoints.count + (end - index))
                for i in index..<end {
                    let endpoint = endpoints[i]
                    let key = EndpointKey(host: endpoint.host, port: endpoint.port)
                    let healthy = endpoint.state == .healthy
                    if healthy {
                        evidence.endpoints[key] = true
                    } else if evidence.endpoints[key] == nil {
                        evidence.endpoints[key] = false
                    }
                }
                perService[service] = evidence
            }
            index = end
        }
        byCluster[cluster] = perService
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
