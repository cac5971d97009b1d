import Wire

/// Computes the routing table from what the mesh knows: the pure function at the heart of the gateway.
///
/// No I/O, no clock reads, no randomness: `now` and the wall clock come in as values, history comes in as
/// `TableState` and goes out updated. Equal inputs and state give an equal table, byte for byte.
public enum TableBuilder {
    /// Builds the table for `inputs` at `now` under `policy`, given the state the previous build returned.
    ///
    /// Failover is immediate; a cluster that comes back after failing is held down and then ramped up
    /// (`TablePolicy.holdDown`, `slowStart`), while a cluster seen live for the first time on a route (at
    /// start-up, or when its first digest arrives) takes its share at once, since that is no failback. When
    /// the gateway is isolated, or no cluster can serve a route, the last good weights are kept (fail static).
    /// Call it whenever an input changes and also at `TableState.nextRebuildAt`, when time alone moves weights.
    public static func build(
        _ inputs: TableInputs,
        state previous: TableState,
        policy: TablePolicy = TablePolicy(),
        now: ContinuousClock.Instant
    ) -> (table: RoutingTable, state: TableState) {
        var state = previous
        state.latestChanges = []
        let routes = inputs.routes.sorted(by: routeOrder)
        var evidence = Evidence(members: inputs.members, digests: inputs.digests, services: Set(routes.map(\.service)),
                                policy: policy, nowMillis: inputs.wallClockMillis)
        evidence.distrusted = inputs.distrusted
        evidence.outliers = inputs.outliers

        var entries: [RouteEntry] = []
        entries.reserveCapacity(routes.count)
        // Routes new since the last table have no "from" weight: their first weights are not changes.
        let previousRoutes = Set(state.lastTable?.routes.map(\.spec.id) ?? [])
        var anyLive = false
        var nextRebuild: ContinuousClock.Instant?
        for spec in routes {
            var entry: RouteEntry
            if inputs.isolated {
                entry = noneHealthy(spec, rule: policy.traffic.overridden(by: spec.traffic).whenNoneHealthy, lastGood: state.lastGood[spec.id],
                                    computed: nil, evidence: evidence, because: "gateway isolated (cut off from the mesh)")
            } else {
                let computed = computeRoute(spec, evidence: evidence, state: &state, policy: policy, now: now,
                                            drains: inputs.drains, nowMillis: inputs.wallClockMillis)
                if let wake = computed.nextRebuild { nextRebuild = nextRebuild.map { min($0, wake) } ?? wake }
                if computed.live {
                    anyLive = true
                    state.lastGood[spec.id] = computed.entry
                    entry = computed.entry
                } else {
                    entry = noneHealthy(spec, rule: policy.traffic.overridden(by: spec.traffic).whenNoneHealthy, lastGood: state.lastGood[spec.id],
                                        computed: computed.entry, evidence: evidence, because: "no cluster can serve")
                }
            }
            record(&entry, isNew: !previousRoutes.contains(spec.id), state: &state, policy: policy, atMillis: inputs.wallClockMillis)
            entries.append(entry)
        }
        // Forget routes that are no longer configured, so history cannot grow without bound.
        let ids = Set(routes.map(\.id))
        state.lastGood = state.lastGood.filter { ids.contains($0.key) }
        state.clusters = state.clusters.filter { ids.contains($0.key.route) }

        let isolated = inputs.isolated || (!routes.isEmpty && !anyLive)
        let contentChanged = state.lastTable.map { $0.routes != entries || $0.isolated != isolated } ?? true
        if contentChanged { state.version &+= 1 }
        let table = RoutingTable(
            version: state.version,
            hash: TableHash.hash(of: entries),
            generatedAtMillis: inputs.wallClockMillis,
            isolated: isolated,
            routes: entries,
            changes: state.changes
        )
        state.lastTable = table
        state.nextRebuildAt = nextRebuild
        // A drain's end changes the table with no new input, as a lease running out does: the shell wakes for both.
        let drainEnd = Drains.nextEnd(inputs.drains, nowMillis: inputs.wallClockMillis)
        state.nextLeaseExpiryMillis = [evidence.nextExpiryMillis, drainEnd].compactMap { $0 }.min()
        state.expiredOrigins = evidence.expired.values.flatMap { $0.map(\.origin) }.sorted()
        return (table, state)
    }

    /// Routes in a canonical order, so the configuration's order cannot change the table or its hash.
    static func routeOrder(_ a: RouteSpec, _ b: RouteSpec) -> Bool {
        if (a.host, a.path, a.pathType.rawValue, a.service) != (b.host, b.path, b.pathType.rawValue, b.service) {
            return (a.host, a.path, a.pathType.rawValue, a.service) < (b.host, b.path, b.pathType.rawValue, b.service)
        }
        // Only unvalidated routes can tie this far (the parsers reject duplicates); the weights settle it.
        func weights(_ route: RouteSpec) -> [String] { route.clusters.map { "\($0)=\(route.weights[$0] ?? 0)" } }
        return weights(a).lexicographicallyPrecedes(weights(b))
    }

    /// One cluster's standing on a route before weights are apportioned.
    struct Standing {
        var cluster: String
        var configured: Int
        var healthy: [EndpointKey]
        var total: Int
        var vouched: Bool
        /// Healthy endpoints needed to serve (`TrafficPolicy.minHealthy`), at least 1.
        var minimum: Int
        var capacity: Double
        var ramp: Double
        var state: ClusterState
        var reason: String
        /// The operator's drain in force, if any: the cluster cannot serve whatever its health.
        var drain: OperatorDrain?

        var canServe: Bool { drain == nil && vouched && healthy.count >= minimum }
    }

    static func computeRoute(
        _ spec: RouteSpec,
        evidence: Evidence,
        state: inout TableState,
        policy: TablePolicy,
        now: ContinuousClock.Instant,
        drains: [OperatorDrain] = [],
        nowMillis: UInt64 = 0
    ) -> (entry: RouteEntry, live: Bool, nextRebuild: ContinuousClock.Instant?) {
        var standings: [Standing] = []
        var nextRebuild: ContinuousClock.Instant?
        let routeID = spec.id
        let rules = policy.traffic.overridden(by: spec.traffic)
        for cluster in spec.clusters {
            let configured = spec.weights[cluster] ?? 0
            let found = evidence.evidence(cluster: cluster, service: spec.service)
            var healthy = found?.healthy ?? []
            let total = found?.total ?? 0
            let ejected = evidence.outliers.isEmpty ? [] : Self.ejected(&healthy, cluster: cluster, outliers: evidence.outliers)
            let vouched = (found?.vouchers ?? 0) > 0
            var standing = Standing(cluster: cluster, configured: configured, healthy: healthy, total: total, vouched: vouched,
                                    minimum: rules.minHealthy?.required(total: total) ?? 1,
                                    capacity: policy.capacity(healthy: healthy.count, total: total), ramp: 1,
                                    state: .active, reason: "",
                                    drain: drains.isEmpty ? nil : Drains.inForce(cluster: cluster, route: routeID, in: drains, nowMillis: nowMillis))
            let key = TableState.HistoryKey(route: routeID, cluster: cluster)
            var history = state.clusters[key] ?? TableState.ClusterHistory()
            if !standing.canServe {
                history.liveSince = nil
                standing.state = .failed
                standing.capacity = 0
                if let drain = standing.drain {
                    // Moved away as a failover would; its return is a failback (hold-down, then slow start).
                    standing.state = .drained
                    standing.reason = Drains.reason(drain)
                } else if !vouched {
                    standing.reason = "no live agent vouches for \(cluster)"
                } else if healthy.isEmpty {
                    standing.reason = "no healthy endpoint of \(spec.service) in \(cluster) (0 of \(total))"
                } else {
                    standing.reason = "\(healthy.count) of \(total) endpoints healthy, below minHealthy \(rules.minHealthy.map { "\($0)" } ?? "1") (\(standing.minimum))"
                }
                if standing.drain == nil, !vouched, let lease = policy.digestLease, let expired = evidence.expired[cluster] {
                    standing.reason += ": " + DigestLease.reason(expired, lease: lease)
                }
                if standing.drain == nil, !vouched, let note = evidence.distrusted[cluster] { standing.reason += ": " + note }
            } else {
                if history.liveSince == nil {
                    history.liveSince = now
                    // Only a return after serving is a failback; the first sighting takes traffic at once.
                    history.damped = history.hasBeenLive
                }
                history.hasBeenLive = true
                if history.damped, let since = history.liveSince {
                    let elapsed = since.duration(to: now)
                    standing.ramp = policy.ramp(liveFor: elapsed)
                    if standing.ramp >= 1 {
                        history.damped = false
                    } else {
                        standing.state = .recovering
                        let wake: ContinuousClock.Instant
                        if elapsed < policy.holdDown {
                            wake = since.advanced(by: policy.holdDown)
                            standing.reason = "recovering: live again, held down for \(format(policy.holdDown)) before taking traffic"
                        } else {
                            // A step every tenth of the ramp keeps the share moving smoothly without rebuilding constantly.
                            wake = min(now.advanced(by: policy.slowStart / 10), since.advanced(by: policy.holdDown + policy.slowStart))
                            standing.reason = "recovering: slow start at \(Int((standing.ramp * 100).rounded(.down)))% of its share"
                        }
                        nextRebuild = nextRebuild.map { min($0, wake) } ?? wake
                    }
                }
                if standing.state != .recovering {
                    if healthy.count < total {
                        standing.state = .degraded
                        switch policy.failover {
                        case .overprovision(let factor):
                            standing.reason = "partial capacity: \(healthy.count) of \(total) endpoints healthy, share × min(1, \(factor) × \(fraction(healthy.count, total))) = \(fraction2(standing.capacity))"
                        case .zeroHealthy:
                            standing.reason = "partial capacity: \(healthy.count) of \(total) endpoints healthy, full share (zero-healthy rule)"
                        }
                    } else {
                        standing.reason = "\(healthy.count) of \(total) endpoints healthy"
                    }
                }
            }
            if !evidence.outliers.isEmpty { applyOutliers(&standing, ejected: ejected, outliers: evidence.outliers) }
            state.clusters[key] = history
            standings.append(standing)
        }

        let weights = effectiveWeights(standings, groups: rules.groups(of: spec.clusters))
        let live = weights.shares.contains { $0 > 0 }
        var clusters: [ClusterEntry] = []
        var endpoints: [EndpointEntry] = []
        var standby: [EndpointEntry] = []
        let shortfall = zip(standings, weights.shares).filter { $0.1 < $0.0.configured }.map(\.0.cluster)
        for (i, standing) in standings.enumerated() {
            let weight = weights.shares[i]
            var reason = standing.reason
            if let note = weights.notes[i] { reason += "; \(note)" }
            if standing.configured == 0 && standing.canServe && weight == 0 { reason += "; configured weight 0" }
            if weight > standing.configured {
                let others = shortfall.filter { $0 != standing.cluster }
                if !others.isEmpty { reason += "; takes the share of \(others.joined(separator: ", "))" }
            }
            clusters.append(ClusterEntry(cluster: standing.cluster, configuredWeight: standing.configured, effectiveWeight: weight,
                                         healthyEndpoints: standing.healthy.count, totalEndpoints: standing.total,
                                         state: standing.state, reason: reason))
            guard weight > 0 else {
                if standing.canServe {
                    standby += standing.healthy.map { EndpointEntry(cluster: standing.cluster, host: $0.host, port: $0.port, weightPPM: 0) }
                }
                continue
            }
            // Effective weight is in percent; ×10,000 gives parts per million of the route's traffic.
            let split = Apportion.even(weight * 10_000, over: standing.healthy.count)
            for (endpoint, ppm) in zip(standing.healthy, split) {
                endpoints.append(EndpointEntry(cluster: standing.cluster, host: endpoint.host, port: endpoint.port, weightPPM: ppm))
            }
        }
        return (RouteEntry(spec: spec, clusters: clusters, endpoints: endpoints, failStatic: false, standby: standby), live, nextRebuild)
    }

    /// Apportions 100 over the clusters that can serve, in tiers, so that a route serves whenever any cluster can.
    ///
    /// 1. Configured weight × capacity × ramp of every cluster that can serve.
    /// 2. If that is all zero because the only clusters left are held down, they serve anyway: holding back
    ///    traffic is pointless when the alternative is no cluster at all.
    /// 3. If still zero because the only clusters left are configured at 0, they share evenly (standby).
    /// 4. With priority groups, each group keeps what it can take and spills the rest to the next (``spill``).
    static func effectiveWeights(_ standings: [Standing], groups: [[Int]] = []) -> (shares: [Int], notes: [String?]) {
        // Raw shares in units of 1/10,000 of a weight point: integers, so apportioning is exact and deterministic.
        func quantized(_ value: Double) -> Int {
            // A policy factor of NaN or infinity must not trap: treat nonsense as no share, cap the rest at 100.
            guard value.isFinite, value > 0 else { return 0 }
            return Int((min(value, 100) * 10_000).rounded(.down))
        }
        var notes = [String?](repeating: nil, count: standings.count)
        var raw = standings.map { $0.canServe ? quantized(Double($0.configured) * $0.capacity * $0.ramp) : 0 }
        if raw.allSatisfy({ $0 == 0 }) {
            raw = standings.map { $0.canServe ? quantized(Double($0.configured) * $0.capacity) : 0 }
            for (i, s) in standings.enumerated() where raw[i] > 0 && s.state == .recovering {
                notes[i] = "serves during its hold-down because no other cluster can"
            }
        }
        if raw.allSatisfy({ $0 == 0 }) {
            raw = standings.map { $0.canServe ? 1 : 0 }
            for (i, _) in standings.enumerated() where raw[i] > 0 {
                notes[i] = "standby: serves because no weighted cluster can"
            }
        }
        if groups.count > 1 { raw = spill(raw, configured: standings.map(\.configured), groups: groups) }
        return (Apportion.largestRemainder(raw, total: 100), notes)
    }

    /// The route as it must be served when it cannot be computed: its last good weights, or nothing.
    static func failStatic(_ spec: RouteSpec, lastGood: RouteEntry?, computed: RouteEntry? = nil, because cause: String) -> RouteEntry {
        let current = computed?.clusters ?? spec.clusters.map { cluster in
            ClusterEntry(cluster: cluster, configuredWeight: spec.weights[cluster] ?? 0, effectiveWeight: 0,
                         healthyEndpoints: 0, totalEndpoints: 0, state: .failed, reason: cause)
        }
        guard let lastGood, lastGood.spec == spec else {
            return RouteEntry(spec: spec, clusters: current, endpoints: [], failStatic: false)
        }
        let kept = Dictionary(lastGood.clusters.map { ($0.cluster, $0.effectiveWeight) }, uniquingKeysWith: { a, _ in a })
        let clusters = current.map { entry in
            var entry = entry
            entry.effectiveWeight = kept[entry.cluster] ?? 0
            if computed == nil {
                // Isolated: the gateway knows nothing new, so the last good view of each cluster stands.
                if let old = lastGood.clusters.first(where: { $0.cluster == entry.cluster }) { entry = old }
            }
            entry.reason += "; fail static (\(cause)): keeping the last good weight \(entry.effectiveWeight)"
            return entry
        }
        return RouteEntry(spec: spec, clusters: clusters, endpoints: lastGood.endpoints, failStatic: true)
    }

    /// Records every change of a cluster's effective weight against the previous table, with its reason.
    static func record(_ entry: inout RouteEntry, isNew: Bool, state: inout TableState, policy: TablePolicy, atMillis: UInt64) {
        let routeID = entry.spec.id
        for cluster in entry.clusters {
            let key = TableState.HistoryKey(route: routeID, cluster: cluster.cluster)
            var history = state.clusters[key] ?? TableState.ClusterHistory()
            if !isNew && history.effectiveWeight != cluster.effectiveWeight {
                let change = WeightChange(atMillis: atMillis, route: routeID, cluster: cluster.cluster,
                                          from: history.effectiveWeight, to: cluster.effectiveWeight, reason: cluster.reason)
                state.changes.append(change)
                state.latestChanges.append(change)
            }
            history.effectiveWeight = cluster.effectiveWeight
            state.clusters[key] = history
        }
        if state.changes.count > policy.changeHistoryLimit {
            state.changes.removeFirst(state.changes.count - policy.changeHistoryLimit)
        }
    }

    static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let millis = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return millis % 1000 == 0 ? "\(millis / 1000)s" : "\(millis)ms"
    }

    static func fraction(_ a: Int, _ b: Int) -> String { fraction2(Double(a) / Double(b)) }

    static func fraction2(_ value: Double) -> String {
        let hundredths = Int((value * 100).rounded())
        let tail = hundredths % 100
        return "\(hundredths / 100).\(tail < 10 ? "0" : "")\(tail)"
    }
}
