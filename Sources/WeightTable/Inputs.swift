import Wire

/// What the gateway's membership view says about one member: enough to decide whether it vouches.
public struct MemberView: Sendable, Hashable {
    /// Where the member stands in the gateway's membership view; the policy's ``TablePolicy/Vouching`` rule
    /// says which of these vouch.
    public enum Standing: String, Sendable, Hashable {
        /// Answers probes, or refuted its last accusation.
        case alive
        /// Missed a probe; dead unless it refutes before its suspicion ends.
        case suspect
        /// Dead or departed: vouches for nothing under any rule, its last digest only tells its cluster's size.
        case gone
    }

    /// The member's unique name, as in its digests' `origin.name`.
    public var name: String
    /// The cluster the member speaks for (empty for gateways, which vouch for nothing).
    public var cluster: String
    /// Alive, suspect or gone.
    public var standing: Standing
    /// The member's current generation, when known; a digest from another generation then does not count.
    public var generation: UInt64?

    /// Creates a view entry.
    public init(name: String, cluster: String, standing: Standing, generation: UInt64? = nil) {
        self.name = name
        self.cluster = cluster
        self.standing = standing
        self.generation = generation
    }

    /// A view entry that is alive or gone: the two standings every vouching rule agrees on.
    public init(name: String, cluster: String, isLive: Bool, generation: UInt64? = nil) {
        self.init(name: name, cluster: cluster, standing: isLive ? .alive : .gone, generation: generation)
    }

    /// The view of the member `identity`, bound to its generation.
    public init(_ identity: MemberIdentity, standing: Standing) {
        self.init(name: identity.name, cluster: identity.cluster, standing: standing, generation: identity.generation)
    }
}

/// Everything the table is computed from at one moment, apart from its own history and the clock.
public struct TableInputs: Sendable {
    /// The configured routes; their order does not matter (the table sorts them).
    public var routes: [RouteSpec]
    /// The membership view.
    public var members: [MemberView]
    /// The newest digest per origin member, in any order; if an origin appears twice the newer one counts,
    /// so arrival order and duplicates never change the table.
    public var digests: [HealthDigest]
    /// The gateway has lost contact with every member: keep the last good table (fail static).
    public var isolated: Bool
    /// Wall-clock milliseconds since the Unix epoch, for `generatedAt` and change timestamps only.
    public var wallClockMillis: UInt64
    /// Per cluster, why some of its digests were left out of `digests` (their key is no longer trusted): added to the
    /// reason of a cluster that nobody vouches for, so the table says why it lost its weight.
    public var distrusted: [String: String] = [:]
    /// Operators' drain orders in any order (`Drains`): a drained cluster loses its share as a failed one does,
    /// while `wallClockMillis` is before the order's end.
    public var drains: [OperatorDrain] = []
    /// What this gateway's passive outlier detection takes away (`OutlierDetector`): ejected endpoints count as
    /// unhealthy and demoted clusters as degraded. Local to this gateway, never gossiped; empty when it is off.
    public var outliers = OutlierView()

    /// Creates the inputs of one rebuild.
    public init(routes: [RouteSpec], members: [MemberView], digests: [HealthDigest], isolated: Bool = false, wallClockMillis: UInt64) {
        self.routes = routes
        self.members = members
        self.digests = digests
        self.isolated = isolated
        self.wallClockMillis = wallClockMillis
    }

    /// Creates the inputs from a digest store keyed by origin member name (the keys are not consulted:
    /// each digest names its origin).
    public init(routes: [RouteSpec], members: [MemberView], digestStore: [String: HealthDigest], isolated: Bool = false, wallClockMillis: UInt64) {
        // Sorted so that the array handed on does not carry the dictionary's per-process order; the table
        // does not depend on it either way.
        let digests = digestStore.sorted { $0.key < $1.key }.map(\.value)
        self.init(routes: routes, members: members, digests: digests, isolated: isolated, wallClockMillis: wallClockMillis)
    }
}
