import Wire

/// What one member believes about another's liveness.
public enum MemberState: String, Hashable, Sendable, CustomStringConvertible {
    /// Answers probes, or its newest signed record is newer than any accusation.
    case alive
    /// Missed a probe; declared dead unless it refutes before its suspicion ends.
    case suspect
    /// Its suspicion ended without refutation; kept as a tombstone.
    case dead
    /// Announced its graceful departure; kept as a tombstone.
    case left

    /// Whether the member still takes part in probing and gossip.
    public var isActive: Bool { self == .alive || self == .suspect }

    /// The code used in state-sync summaries.
    var summaryCode: UInt8 {
        switch self {
        case .alive: return 1
        case .suspect: return 2
        case .dead: return 3
        case .left: return 4
        }
    }

    init?(summaryCode: UInt8) {
        switch summaryCode {
        case 1: self = .alive
        case 2: self = .suspect
        case 3: self = .dead
        case 4: self = .left
        default: return nil
        }
    }

    /// The state's name as the admin API prints it.
    public var description: String { rawValue }
}

/// A member as this core sees it at one moment: what the membership API and the weight table read.
public struct MemberSnapshot: Hashable, Sendable, CustomStringConvertible {
    /// Name, cluster, zone and generation.
    public var identity: MemberIdentity
    /// The member's gossip address.
    public var address: PeerAddress
    /// Alive, suspect, dead or left.
    public var state: MemberState
    /// The incarnation the state refers to.
    public var incarnation: UInt64
    /// Suspect or dead on the observer's word alone, from a probe that no one answered, helpers included: the
    /// fault is likely the observer's own (a gateway cut off from the mesh), so this is not yet evidence.
    public var doubtful: Bool

    /// Creates a snapshot.
    public init(identity: MemberIdentity, address: PeerAddress, state: MemberState, incarnation: UInt64, doubtful: Bool = false) {
        self.identity = identity
        self.address = address
        self.state = state
        self.incarnation = incarnation
        self.doubtful = doubtful
    }

    /// The member name.
    public var name: String { identity.name }

    /// `name#generation state@incarnation address`, for logs.
    public var description: String { "\(identity) \(state)\(doubtful ? " (doubtful)" : "")@\(incarnation) \(address)" }
}

/// Something the shell must do on the core's behalf: the only way the core acts on the world.
public enum GossipDirective: Sendable, Equatable {
    /// Send one datagram holding `messages` to `to`; `bytes` is its encoded size (before any seal).
    case send([GossipMessage], to: PeerAddress, bytes: Int)
    /// Open a state sync (TCP push-pull) with `with`: send `request()`'s messages, feed the reply to `onStateSync`.
    case startStateSync(with: PeerAddress)
    /// A member was learned or changed state; `previous` is nil for a member not known before.
    case memberChanged(MemberSnapshot, previous: MemberState?)
    /// A verified digest newer than any before from its origin was stored. `missedByGossip`: a state sync brought it
    /// although gossip should have by then (`GossipCore.missedByGossip`): news the epidemic and the direct send to
    /// gateways missed.
    case digestAccepted(SignedDigest, missedByGossip: Bool)
    /// A verified drain order newer than any held for its cluster and route was stored.
    case drainAccepted(SignedDrain)
    /// A received digest or member record was refused (never a mere duplicate).
    case recordRejected(RecordRejection)
    /// A member name is held by two live processes at once (reported once as the second one is confirmed).
    case nameConflict(NameConflict)
    /// This member became cut off from the mesh (true: its last probes went unanswered by everyone), or heard
    /// an answer again (false).
    case cutOff(Bool)
    /// Call `onTick` again at this instant at the latest.
    case scheduleTick(at: ContinuousClock.Instant)
}
