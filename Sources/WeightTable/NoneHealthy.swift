extension TableBuilder {
    /// The route when no cluster can serve it, or the gateway is isolated, under `rule` (`whenNoneHealthy`).
    static func noneHealthy(
        _ spec: RouteSpec, rule: TrafficPolicy.NoneHealthy, lastGood: RouteEntry?, computed: RouteEntry?,
        evidence: Evidence, because cause: String
    ) -> RouteEntry {
        var entry: RouteEntry
        switch rule {
        case .lastGood:
            entry = failStatic(spec, lastGood: lastGood, computed: computed, because: cause)
        case .none:
            entry = failStatic(spec, lastGood: nil, computed: computed, because: cause)
            for i in entry.clusters.indices {
                entry.clusters[i].reason += "; fail closed (\(cause), whenNoneHealthy: none): requests are answered 503"
            }
        case .all:
            entry = failOpen(spec, computed: computed, evidence: evidence, because: cause)
        }
        entry.fallback = rule
        return entry
    }

    /// Every endpoint any agent reported for the route, healthy or not, weighted by the configured weights of the
    /// clusters that have any (evenly when those are all 0): some requests may fail, none is refused outright.
    static func failOpen(_ spec: RouteSpec, computed: RouteEntry?, evidence: Evidence, because cause: String) -> RouteEntry {
        var base = failStatic(spec, lastGood: nil, computed: computed, because: cause)
        let known = spec.clusters.map { evidence.everyEndpoint(cluster: $0, service: spec.service) }
        var raw = zip(spec.clusters, known).map { cluster, endpoints in endpoints.isEmpty ? 0 : (spec.weights[cluster] ?? 0) }
        if raw.allSatisfy({ $0 == 0 }) { raw = known.map { $0.isEmpty ? 0 : 1 } }
        let shares = Apportion.largestRemainder(raw, total: 100)
        var endpoints: [EndpointEntry] = []
        for (i, cluster) in spec.clusters.enumerated() where shares[i] > 0 {
            for (endpoint, ppm) in zip(known[i], Apportion.even(shares[i] * 10_000, over: known[i].count)) {
                endpoints.append(EndpointEntry(cluster: cluster, host: endpoint.host, port: endpoint.port, weightPPM: ppm))
            }
        }
        for i in base.clusters.indices {
            base.clusters[i].effectiveWeight = shares[i]
            base.clusters[i].reason += "; fail open (\(cause), whenNoneHealthy: all): spread over every known endpoint"
        }
        base.endpoints = endpoints
        return base
    }
}
