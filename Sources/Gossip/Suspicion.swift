/// One member's suspicion of another: Lifeguard's timer, shortened by independent confirmations (memberlist's
/// `suspicion`). A timer is data: its deadline is stored and checked on ticks, never a callback.
struct Suspicion: Sendable {
    typealias Instant = ContinuousClock.Instant

    let start: Instant
    let incarnation: UInt64
    /// Distinct members that accused; the first is the originator, the others confirmations.
    private(set) var accusers: Set<String>
    let minimum: Duration
    let maximum: Duration
    /// When the suspect is next told of the suspicion directly, in case the last word or its answer was lost.
    var nextNudgeAt: Instant
    /// Lifeguard's K for this suspicion: 0 when the mesh is too small to ever confirm K times.
    let expectedConfirmations: Int
    /// When the suspect is declared dead unless it refutes: moves earlier with each confirmation. Kept rather
    /// than computed on every tick, which with a whole cluster under suspicion is most of a member's work.
    private(set) var deadline: Instant

    init(start: Instant, incarnation: UInt64, accuser: String, minimum: Duration, maximum: Duration,
         nextNudgeAt: Instant, expectedConfirmations: Int) {
        self.start = start
        self.incarnation = incarnation
        self.accusers = [accuser]
        self.minimum = minimum
        self.maximum = maximum
        self.nextNudgeAt = nextNudgeAt
        self.expectedConfirmations = expectedConfirmations
        self.deadline = start
        updateDeadline()
    }

    /// A suspicion begun now of one of `n` members (this one included), with the settings' formulas: the minimum
    /// `suspicionMult · max(1, log10 n) · probeInterval`, the maximum `suspicionMaxMult` times it, and K expected
    /// confirmations unless fewer than K others could ever confirm (memberlist's `n - 2 < k`).
    init(of n: Int, at now: Instant, incarnation: UInt64, accuser: String, settings: GossipSettings) {
        let minimum = GossipFormulas.suspicionMinimum(mult: settings.suspicionMult, n: n, probeInterval: settings.probeInterval)
        self.init(start: now, incarnation: incarnation, accuser: accuser, minimum: minimum,
                  maximum: minimum * settings.suspicionMaxMult, nextNudgeAt: now + settings.probeInterval,
                  expectedConfirmations: n - 2 < settings.suspicionConfirmations ? 0 : settings.suspicionConfirmations)
    }

    var confirmations: Int { max(0, accusers.count - 1) }

    /// When this suspicion next needs attention: its nudge or its end.
    var wake: Instant { min(deadline, nextNudgeAt) }

    /// Counts an independent confirmation; false when `accuser` had accused already.
    mutating func confirm(by accuser: String) -> Bool {
        guard accusers.insert(accuser).inserted else { return false }
        updateDeadline()
        return true
    }

    private mutating func updateDeadline() {
        deadline = start + GossipFormulas.remainingSuspicionTime(
            confirmations: confirmations, k: expectedConfirmations, elapsed: .zero, min: minimum, max: maximum)
    }
}

/// Every suspicion a member holds, and the earliest instant any of them needs attention.
///
/// With a whole cluster under suspicion a tick must not look at each one: `wake` is a lower bound (a suspicion
/// ended early may leave it too soon, which costs one needless look), and `due` looks only once it has passed.
struct Suspicions: Sendable {
    typealias Instant = ContinuousClock.Instant

    private var byMember: [MemberKey: Suspicion] = [:]
    /// No suspicion needs attention before this.
    private(set) var wake: Instant?

    var isEmpty: Bool { byMember.isEmpty }
    var count: Int { byMember.count }

    subscript(key: MemberKey) -> Suspicion? { byMember[key] }

    /// Stores `suspicion` of `key` (a new one, or one just confirmed or nudged) and wakes for it.
    mutating func set(_ suspicion: Suspicion, of key: MemberKey) {
        byMember[key] = suspicion
        wake = min(wake ?? suspicion.wake, suspicion.wake)
    }

    /// Ends the suspicion of `key`, if any (refuted, declared dead, or the member gone).
    mutating func end(_ key: MemberKey) {
        byMember[key] = nil
    }

    /// Counts a confirmation of the suspicion of `key`: nil when there is none, false when `accuser` had accused
    /// already, true when it shortened the suspicion.
    mutating func confirm(_ key: MemberKey, by accuser: String) -> Bool? {
        guard var s = byMember[key] else { return nil }
        guard s.confirm(by: accuser) else { return false }
        set(s, of: key)
        return true
    }

    /// The suspicions that need attention at `now` (a nudge or their end), in a fixed order, and the next wake.
    mutating func due(now: Instant) -> [MemberKey] {
        guard !byMember.isEmpty else {
            wake = nil
            return []
        }
        guard let wake, now >= wake else { return [] }
        var due: [MemberKey] = []
        var next: Instant?
        for (key, s) in byMember {
            if now >= s.wake { due.append(key) } else { next = min(next ?? s.wake, s.wake) }
        }
        self.wake = next
        return due.sorted { ($0.name, $0.generation) < ($1.name, $1.generation) }
    }
}
