import Gossip
import GossipNIO
import Wire
import WeightTable

/// The gateway's picture of the mesh as the weight table needs it: each member's standing and its newest digest.
///
/// Kept up to date event by event, so a rebuild reads it without asking the gossip service for a copy of every
/// member and digest. Now and then it is replaced whole from the service (``resync(members:digests:cutOff:)``): that
/// forgets the members the service itself has forgotten (tombstones pruned), so the view stays bounded, and it
/// repairs any event the stream dropped under overload. Events that arrive while a resync's snapshot is on its
/// way are replayed on top of it (``beginResync()``), so a snapshot taken just before a suspicion never hides it.
struct MeshView {
    /// One member process: a name started twice is two of these.
    struct Origin: Hashable {
        var name: String
        var generation: UInt64

        init(_ identity: MemberIdentity) {
            name = identity.name
            generation = identity.generation
        }
    }

    private var members: [Origin: MemberSnapshot] = [:]
    private var digests: [Origin: SignedDigest] = [:]
    private var activeCount = 0
    /// Heard from some member once: from then on, hearing from none means the gateway is cut off (fail static),
    /// not that every cluster failed.
    private(set) var hadContact = false
    /// The gateway's own probes went unanswered by everyone, helpers included (`GossipEvent.cutOff`).
    private(set) var cutOff = false
    /// The events applied since a resync began, replayed on top of its snapshot; nil when none is under way.
    private var replay: [GossipEvent]?

    /// The gateway has lost contact with every member it had, or no one answers its probes: the failure is its
    /// own, not the clusters'. A gateway cut off suspects the members it probes one by one, cluster by cluster;
    /// those suspicions are doubtful (``MemberSnapshot/doubtful``) and leave the table as it was, and two probes
    /// that no one answered make it isolated, so it fails static on the table from before the cut. Back in touch,
    /// it stays isolated until it hears some member alive again, and the members it declared dead on its own
    /// doubtful word keep their place meanwhile (`GossipCore+Doubt`).
    var isolated: Bool { hadContact && (activeCount == 0 || cutOff) }

    /// Applies one event; true when the table may change because of it.
    @discardableResult
    mutating func apply(_ event: GossipEvent) -> Bool {
        switch event {
        case .memberChanged(let member, _):
            replay?.append(event)
            update(member)
            return true
        case .digestAccepted(let signed, _):
            replay?.append(event)
            return store(signed)
        case .drainAccepted:
            // Drains are read from the gossip service at each rebuild: few, and held there whole.
            return true
        case .cutOff(let cut):
            replay?.append(event)
            defer { cutOff = cut }
            return cutOff != cut
        case .recordRejected, .nameConflict:
            return false
        }
    }

    /// Starts collecting events to replay on top of the snapshot about to be read.
    mutating func beginResync() { replay = [] }

    /// Replaces the view with the gossip service's `members` and `digests`, read after ``beginResync()``, then
    /// replays the events applied in between: events come in order, so the newest state wins either way.
    mutating func resync(members snapshot: [MemberSnapshot], digests newest: [SignedDigest], cutOff: Bool = false) {
        let pending = replay ?? []
        replay = nil
        members = [:]
        digests = [:]
        activeCount = 0
        self.cutOff = cutOff
        for member in snapshot { update(member) }
        for digest in newest { store(digest) }
        for event in pending { apply(event) }
    }

    /// The newest digest of each origin process, with the key that signed it (the roster in force may no longer
    /// trust it).
    var signedDigests: [SignedDigest] { Array(digests.values) }

    /// The table's inputs for `routes`, with `digests` (those of ``signedDigests`` the roster trusts). A name held by two generations at once (a node name started twice: both
    /// processes run) becomes one origin per generation, so that each live one vouches with its own digest and the
    /// end of one never takes vouching away from the other; every other name passes unchanged.
    func tableInputs(routes: [RouteSpec], digests: [HealthDigest], wallClockMillis: UInt64) -> TableInputs {
        let (views, vouching) = Self.vouchingInputs(members: Array(members.values), digests: digests)
        return TableInputs(routes: routes, members: views, digests: vouching, isolated: isolated, wallClockMillis: wallClockMillis)
    }

    /// See ``tableInputs(routes:digests:wallClockMillis:)``.
    static func vouchingInputs(members: [MemberSnapshot], digests: [HealthDigest]) -> ([MemberView], [HealthDigest]) {
        var held: [String: Int] = [:]
        for m in members { held[m.name, default: 0] += 1 }
        guard held.values.contains(where: { $0 > 1 }) else {
            return (members.map { MemberView($0.identity, standing: $0.standing) }, digests)
        }
        func split(_ identity: MemberIdentity) -> MemberIdentity {
            guard held[identity.name, default: 0] > 1 else { return identity }
            var split = identity
            split.name = "\(identity.name)#\(identity.generation)"
            return split
        }
        let views = members.map { MemberView(split($0.identity), standing: $0.standing) }
        let splitDigests = digests.map { digest -> HealthDigest in
            var digest = digest
            digest.origin = split(digest.origin)
            return digest
        }
        return (views, splitDigests)
    }

    private mutating func update(_ member: MemberSnapshot) {
        let previous = members.updateValue(member, forKey: Origin(member.identity))
        if previous?.state.isActive == true { activeCount -= 1 }
        if member.state.isActive {
            activeCount += 1
            hadContact = true
        }
    }

    /// Keeps the newer of two digests of one origin process; true when `digest` was newer.
    @discardableResult
    private mutating func store(_ signed: SignedDigest) -> Bool {
        let origin = Origin(signed.digest.origin)
        if let held = digests[origin], !(held.digest.order < signed.digest.order) { return false }
        digests[origin] = signed
        return true
    }
}

extension MemberSnapshot {
    /// Where the member stands for the weight table: as its state says, except that a doubtful suspicion or death
    /// (on the gateway's word alone, from a probe no one answered) is not evidence against it yet.
    var standing: MemberView.Standing { doubtful ? .alive : state.standing }
}

extension MemberState {
    /// Where a member in this state stands for the weight table.
    var standing: MemberView.Standing {
        switch self {
        case .alive: return .alive
        case .suspect: return .suspect
        case .dead, .left: return .gone
        }
    }
}
