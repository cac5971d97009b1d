import WeightTable

/// What `/readyz` asks: each role's condition for taking traffic, as a closure that returns nil when ready and
/// otherwise the reason, a sentence an operator can act on. More conditions join with ``all(_:)``.
enum Readiness {
    /// A check: nil when ready, else why not.
    typealias Check = @Sendable () async -> String?

    /// Ready when every check is; the first reason otherwise.
    static func all(_ checks: [Check]) -> Check {
        {
            for check in checks {
                if let reason = await check() { return reason }
            }
            return nil
        }
    }

    /// An agent is ready once it has joined: it knows at least one other member that is alive.
    static func agent(_ mesh: MeshRuntime) -> Check {
        let seeds = mesh.config.gossip.join.map(\.description).joined(separator: ", ")
        return {
            let members = await mesh.gossip.members()
            if members.contains(where: { $0.state == .alive }) { return nil }
            return "not joined: no other member is alive yet (\(members.count) known); check gossip.join (\(seeds)) and the mesh key"
        }
    }

    /// A gateway is ready once its table has a route that some cluster can serve.
    static func gateway(table: @escaping @Sendable () -> RoutingTable) -> Check {
        { reason(table()) }
    }

    /// Why `table` cannot take traffic, or nil when some route of it can be served.
    static func reason(_ table: RoutingTable) -> String? {
        if table.version == 0 { return "no routing table yet: nothing heard from the mesh" }
        if table.routes.contains(where: \.canServe) { return nil }
        if table.routes.isEmpty { return "the routing table has no routes" }
        let clusters = table.routes.flatMap(\.clusters).map { "\($0.cluster) \($0.state.rawValue)" }
        let summary = Set(clusters).sorted().joined(separator: ", ")
        return "no cluster can serve any route (\(summary.isEmpty ? "no cluster has endpoints" : summary))"
    }
}
