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
        /// What each agent that reports it says, by agent name, with whether that agent's word counts (it
        /// vouches: alive, or suspect under `failover.vouching: aliveOrSuspect`).
        var reports: [Report]

        /// Healthy when a vouching agent says so; unhealthy when vouching agents probed it and none found it
        /// healthy; unknown when no vouching agent probed it.
        var health: EndpointHealthState {
            let counted = reports.filter(\.counts)
            if counted.contains(where: { $0.state == .healthy }) { return .healthy }
            if counted.contains(where: { $0.state == .unhealthy }) { return .unhealthy }
            return .unknown
        }
    }

    struct Report: Sendable, Equatable {
        var agent: String
        /// The agent's member state; nil when the gateway does not know the member (any more).
        var agentState: MemberState?
        /// Whether the agent vouches, so that what it says counts.
        var counts: Bool
        var state: EndpointHealthState
    }

    /// Endpoints sorted by cluster, service and address.
    var endpoints: [Endpoint]

    /// `suspectsVouch`: the table's vouching rule lets suspect members vouch (`failover.vouching: aliveOrSuspect`).
    init(digests: [HealthDigest], members: [MemberSnapshot], suspectsVouch: Bool = false) {
        let states = Dictionary(members.map { ("\($0.name)/\($0.identity.generation)", $0.state) }, uniquingKeysWith: { first, _ in first })
        var byKey: [String: Endpoint] = [:]
        for digest in digests {
            let agentState = states["\(digest.origin.name)/\(digest.origin.generation)"]
            let counts = agentState == .alive || (suspectsVouch && agentState == .suspect)
            for e in digest.endpoints {
                let key = "\(digest.origin.cluster)\u{0}\(e.service)\u{0}\(e.address)"
                var endpoint = byKey[key] ?? Endpoint(cluster: digest.origin.cluster, service: e.service, address: e.address, reports: [])
                endpoint.reports.append(Report(agent: digest.origin.name, agentState: agentState, counts: counts, state: e.state))
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
