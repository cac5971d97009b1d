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
    typealias Index = [String: [String: [ArraySlice<EndpointHealth>]]]
    /// Per cluster and service, one sorted run of endpoints per vouching agent.
    private var runs: Index = [:]
    /// The same for the last digests of members that are no longer live: they vouch for nothing, but tell
    /// how many endpoints a failed cluster had (`totalEndpoints` of a cluster nobody vouches for).
    private var staleRuns: Index = [:]
    /// Per cluster, the live members whose digests outlived the lease: they vouch for nothing, and say why.
    private(set) var expired: [String: [DigestLease.Expired]] = [:]
    /// Per cluster, why some of its digests were left out before they got here (`TableInputs.distrusted`).
    var distrusted: [String: String] = [:]
    /// This gateway's ejections and demotions (`TableInputs.outliers`).
    var outliers = OutlierView()
    /// The wall-clock millisecond at which the next digest that vouches now will expire; nil without a lease.
    private(set) var nextExpiryMillis: UInt64?

    /// Indexes the digests that count. With a `lease`, a live member's digest older than it at `nowMillis` counts
    /// as stale: like a dead member's, it tells the cluster's size but vouches for nothing.
    init(members: [MemberView], digests: [HealthDigest], services: Set<String>, policy: TablePolicy = TablePolicy(), nowMillis: UInt64 = 0) {
        let lease = policy.digestLease
        var known: [String: MemberView] = [:]
        for member in members where !member.cluster.isEmpty {
            // A view should list each name once; if it does not, the pick must not depend on the list's order.
            if let other = known[member.name], !Self.prefers(member, over: other) { continue }
            known[member.name] = member
        }
        for digest in Self.newestPerOrigin(digests).values {
            guard let member = known[digest.origin.name], member.cluster == digest.origin.cluster else { continue }
            if let generation = member.generation, generation != digest.origin.generation { continue }
            let vouches = policy.vouches(member.standing)
            if vouches, let lease, DigestLease.isExpired(issuedAt: digest.issuedAtMillis, now: nowMillis, lease: lease) {
                expired[member.cluster, default: []].append(DigestLease.Expired(origin: digest.origin.name, issuedAtMillis: digest.issuedAtMillis))
                Self.index(digest, cluster: member.cluster, services: services, into: &staleRuns)
            } else if vouches {
                if let lease {
                    let expiry = DigestLease.expiryMillis(issuedAt: digest.issuedAtMillis, lease: lease)
                    nextExpiryMillis = min(nextExpiryMillis ?? .max, expiry)
                }
                Self.index(digest, cluster: member.cluster, services: services, into: &runs)
            } else {
                Self.index(digest, cluster: member.cluster, services: services, into: &staleRuns)
            }
        }
    }

    private static func index(_ digest: HealthDigest, cluster: String, services: Set<String>, into runs: inout Index) {
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
        guard let sources = runs[cluster]?[service], !sources.isEmpty else {
            guard let stale = staleRuns[cluster]?[service], !stale.isEmpty else { return nil }
            return ServiceEvidence(vouchers: 0, healthy: [], total: Self.merge(stale).total)
        }
        let merged = Self.merge(sources)
        return ServiceEvidence(vouchers: sources.count, healthy: merged.healthy, total: merged.total)
    }

    /// Every endpoint of `service` in `cluster` that any digest reports, vouching or not, healthy or not: what a
    /// route falls back on when it fails open (`whenNoneHealthy: all`).
    func everyEndpoint(cluster: String, service: String) -> [EndpointKey] {
        let sources = (runs[cluster]?[service] ?? []) + (staleRuns[cluster]?[service] ?? [])
        var seen = Set<EndpointKey>()
        for run in sources {
            for endpoint in run { seen.insert(EndpointKey(host: endpoint.host, port: endpoint.port)) }
        }
        return seen.sorted()
    }

    /// Merges runs into the union of their endpoints, each healthy if any run says so.
    static func merge(_ sources: [ArraySlice<EndpointHealth>]) -> (healthy: [EndpointKey], total: Int) {
        var healthy: [EndpointKey] = []
        var total = 0
        if sources.count == 1 {
            for endpoint in sources[0] where endpoint.state == .healthy {
                healthy.append(EndpointKey(host: endpoint.host, port: endpoint.port))
            }
            return (healthy, sources[0].count)
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
        return (healthy, total)
    }

    /// Between two entries for one name: the better standing, then the newer generation, then the smaller cluster
    /// name.
    static func prefers(_ a: MemberView, over b: MemberView) -> Bool {
        if a.standing != b.standing { return a.standing.rank < b.standing.rank }
        if a.generation != b.generation { return (a.generation ?? 0) > (b.generation ?? 0) }
        return a.cluster < b.cluster
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

extension MemberView.Standing {
    /// Alive before suspect before gone, for choosing between two entries of one name.
    var rank: Int {
        switch self {
        case .alive: return 0
        case .suspect: return 1
        case .gone: return 2
        }
    }
}
