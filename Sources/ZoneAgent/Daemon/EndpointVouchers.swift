import Gossip
import Wire

/// Which agents vouch for which endpoint, and what each of them says: the status page's answer to "why is this
/// endpoint (not) in service?". Built from the digests the gateway holds and the members' states.
struct EndpointVouchers: Sendable, Equatable {
    /// One endpoint of a cluster's service.
    struct Endpoint: Sendable, Equatable {
        var cluster: String
        var service: String
        var address: String
        /// What each agent that reports it says, by agent name, with whether that agent is alive (only an alive
        /// agent's word counts).
        var reports: [Report]

        /// Healthy when an alive agent says so; unhealthy when alive agents probed it and none found it healthy;
        /// unknown when no alive agent probed it.
        var health: EndpointHealthState {
            let counted = reports.filter(\.agentAlive)
            if counted.contains(where: { $0.state == .healthy }) { return .healthy }
            if counted.contains(where: { $0.state == .unhealthy }) { return .unhealthy }
            return .unknown
        }
    }

    struct Report: Sendable, Equatable {
        var agent: String
        var agentAlive: Bool
        var state: EndpointHealthState
    }

    /// Endpoints sorted by cluster, service and address.
    var endpoints: [Endpoint]

    init(digests: [HealthDigest], members: [MemberSnapshot]) {
        let alive = Set(members.filter { $0.state == .alive }.map { "\($0.name)/\($0.identity.generation)" })
        var byKey: [String: Endpoint] = [:]
        for digest in digests {
            let agentAlive = alive.contains("\(digest.origin.name)/\(digest.origin.generation)")
            for e in digest.endpoints {
                let key = "\(digest.origin.cluster)\u{0}\(e.service)\u{0}\(e.address)"
                var endpoint = byKey[key] ?? Endpoint(cluster: digest.origin.cluster, service: e.service, address: e.address, reports: [])
                endpoint.reports.append(Report(agent: digest.origin.name, agentAlive: agentAlive, state: e.state))
                byKey[key] = endpoint
            }
        }
        endpoints = byKey.values.map { endpoint in
            var endpoint = endpoint
            // Probers first (what they found decides), then the agents that only know of it.
            endpoint.reports.sort { ($0.state == .unknown ? 1 : 0, $0.agent) < ($1.state == .unknown ? 1 : 0, $1.agent) }
            return endpoint
        }.sorted { ($0.cluster, $0.service, $0.address) < ($1.cluster, $1.service, $1.address) }
    }
}
