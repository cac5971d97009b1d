import Wire

/// What the shells that run a member differ in: how datagrams and state syncs travel, how the member is woken,
/// and where what it observes goes. `GossipMember` calls these in the order of the core's directives.
public protocol GossipShell {
    /// Sends one datagram of `messages` to `peer`; `bytes` is its encoded size before any seal.
    mutating func send(_ messages: [GossipMessage], bytes: Int, to peer: PeerAddress)
    /// Opens `conversation` with its peer and delivers `request`; the peer's answers go to
    /// `GossipMember.continueStateSync`.
    mutating func openStateSync(_ conversation: StateSyncConversation, request: [GossipMessage])
    /// Has `GossipMember.tickIfDue` called at `instant`: earlier than any instant asked for since the last tick.
    mutating func wake(at instant: ContinuousClock.Instant)
    /// A member change, an accepted digest, a refused record or a name conflict, in the order they happened.
    mutating func observe(_ event: GossipEvent)
}

/// What a member reports as it runs.
public enum GossipEvent: Sendable, Equatable {
    /// A member was learned or changed state; `previous` is nil for a member not known before.
    case memberChanged(MemberSnapshot, previous: MemberState?)
    /// A verified, newer digest was stored; `missedByGossip` as in `GossipDirective.digestAccepted`.
    case digestAccepted(SignedDigest, missedByGossip: Bool)
    /// A verified drain order newer than any held for its cluster and route was stored.
    case drainAccepted(SignedDrain)
    /// A received record was refused.
    case recordRejected(RecordRejection)
    /// A member name is used by two running processes (a node name started twice); the sentence says what to do.
    case nameConflict(NameConflict)
    /// This member's last probes went unanswered by everyone, helpers included (true): it is cut off from the mesh,
    /// and its own suspicions are doubtful; or an answer came again (false).
    case cutOff(Bool)
}

/// One member as a shell runs it: the core, its randomness and its next tick, and the one reading of the core's
/// directives that the real network and the simulation share.
///
/// Every input takes `now` and the wall clock from the shell, so the shell's clock (real or virtual) is the only
/// clock. The tick rule lives here: the earliest tick asked for since the last one is kept, and a tick runs only
/// when it is due, so a shell cannot tick early or miss a tick by waking differently.
public struct GossipMember<Randomness: RandomNumberGenerator> {
    /// The protocol core. Changing it directly skips the directives it returns: only set-up code that wants a
    /// member to start quiet does so.
    public var core: GossipCore
    /// The member's randomness, passed to every core call.
    public var rng: Randomness
    /// The tick the core asked for, nil once it has run.
    public private(set) var nextTick: ContinuousClock.Instant?

    /// Runs `core` with `rng`.
    public init(core: GossipCore, rng: Randomness) {
        self.core = core
        self.rng = rng
    }

    /// Starts the protocol and joins through `seeds`.
    public mutating func join(seeds: [PeerAddress], now: ContinuousClock.Instant, wallClockMillis: UInt64, shell: inout some GossipShell) {
        execute(core.join(seeds: seeds, now: now, wallClockMillis: wallClockMillis, rng: &rng), shell: &shell)
    }

    /// Runs the core's timers if the tick it asked for is due; returns whether it ran.
    @discardableResult
    public mutating func tickIfDue(now: ContinuousClock.Instant, wallClockMillis: UInt64, shell: inout some GossipShell) -> Bool {
        guard let due = nextTick, due <= now else { return false }
        tick(now: now, wallClockMillis: wallClockMillis, shell: &shell)
        return true
    }

    /// Runs the core's timers now, due or not (a leaving member keeps its departure moving this way).
    public mutating func tick(now: ContinuousClock.Instant, wallClockMillis: UInt64, shell: inout some GossipShell) {
        nextTick = nil
        execute(core.onTick(now: now, wallClockMillis: wallClockMillis, rng: &rng), shell: &shell)
    }

    /// Handles one datagram's messages from `sender`.
    public mutating func receive(
        _ messages: [GossipMessage], from sender: PeerAddress, now: ContinuousClock.Instant, wallClockMillis: UInt64,
        shell: inout some GossipShell
    ) {
        execute(core.onPacket(messages, from: sender, now: now, wallClockMillis: wallClockMillis, rng: &rng), shell: &shell)
    }

    /// Disseminates this member's own signed digest.
    public mutating func publish(_ digest: SignedDigest, now: ContinuousClock.Instant, shell: inout some GossipShell) {
        execute(core.onLocalDigest(digest, now: now, rng: &rng), shell: &shell)
    }

    /// Verifies, stores and disseminates a drain order handed to this member (its admin API).
    public mutating func inject(_ drain: SignedDrain, now: ContinuousClock.Instant, wallClockMillis: UInt64, shell: inout some GossipShell) -> DrainOutcome {
        let (outcome, directives) = core.onLocalDrain(drain, now: now, wallClockMillis: wallClockMillis, rng: &rng)
        execute(directives, shell: &shell)
        return outcome
    }

    /// Announces this member's departure.
    public mutating func leave(now: ContinuousClock.Instant, shell: inout some GossipShell) {
        execute(core.leave(now: now, rng: &rng), shell: &shell)
    }

    /// Tells the core this member is shedding load (Lifeguard's local health).
    public mutating func noteOverload(now: ContinuousClock.Instant) {
        core.onLocalOverload(now: now)
    }

    /// Merges the peer's next message of `conversation`; returns what to send back (empty: nothing), and false when
    /// the message came out of turn (the peer broke the protocol; nothing was merged).
    public mutating func continueStateSync(
        _ conversation: inout StateSyncConversation, with messages: [GossipMessage], now: ContinuousClock.Instant,
        wallClockMillis: UInt64, shell: inout some GossipShell
    ) -> (accepted: Bool, send: [GossipMessage]) {
        let (accepted, send, directives) = conversation.receive(messages, core: &core, now: now, wallClockMillis: wallClockMillis, rng: &rng)
        execute(directives, shell: &shell)
        return (accepted, send)
    }

    /// Carries out `directives` in order: the only reading of them.
    public mutating func execute(_ directives: [GossipDirective], shell: inout some GossipShell) {
        for directive in directives {
            switch directive {
            case .send(let messages, let peer, let bytes):
                shell.send(messages, bytes: bytes, to: peer)
            case .startStateSync(let peer):
                let (conversation, request) = StateSyncConversation.open(with: peer, core: core)
                shell.openStateSync(conversation, request: request)
            case .scheduleTick(let at):
                if let pending = nextTick, pending <= at { continue }
                nextTick = at
                shell.wake(at: at)
            case .memberChanged(let snapshot, let previous):
                shell.observe(.memberChanged(snapshot, previous: previous))
            case .digestAccepted(let digest, let missed):
                shell.observe(.digestAccepted(digest, missedByGossip: missed))
            case .drainAccepted(let drain):
                shell.observe(.drainAccepted(drain))
            case .recordRejected(let rejection):
                shell.observe(.recordRejected(rejection))
            case .nameConflict(let conflict):
                shell.observe(.nameConflict(conflict))
            case .cutOff(let cut):
                shell.observe(.cutOff(cut))
            }
        }
    }
}
