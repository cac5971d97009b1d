import Gossip
import Wire
import WeightTable

extension GatewayLoop {
    /// The weight table's member views and digests. A name held by two generations at once (a node name started
    /// twice: both processes run) becomes one origin per generation, so that each live one vouches with its own
    /// digest and the end of one never takes vouching away from the other; every other name passes unchanged.
    static func vouchingInputs(members: [MemberSnapshot], digests: [HealthDigest]) -> ([MemberView], [HealthDigest]) {
        var held: [String: Int] = [:]
        for m in members { held[m.name, default: 0] += 1 }
        guard held.values.contains(where: { $0 > 1 }) else {
            return (members.map { MemberView($0.identity, isLive: $0.state == .alive) }, digests)
        }
        func split(_ identity: MemberIdentity) -> MemberIdentity {
            guard held[identity.name, default: 0] > 1 else { return identity }
            var split = identity
            split.name = "\(identity.name)#\(identity.generation)"
            return split
        }
        let views = members.map { MemberView(split($0.identity), isLive: $0.state == .alive) }
        let splitDigests = digests.map { digest -> HealthDigest in
            var digest = digest
            digest.origin = split(digest.origin)
            return digest
        }
        return (views, splitDigests)
    }
}
