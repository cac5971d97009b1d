/// One member's suspicion of another: Lifeguard's timer, shortened by independent confirmations (memberlist's
/// `suspicion`). A timer is data: its deadline is stored and checked on ticks, never a callback.
struct Suspicion: Sendable {
    typealias Instant = ContinuousClock.Instant

    let start: Instant
    let incarnation: UInt64
    /// Distinct members that accused; the first is the originator, the others confirmations. At most K + 1
    /// (`confirm`), so a short array: every survivor of a cluster of 1,250 killed at once holds 1,250 of these.
    private(set) var accusers: [String]
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

    /// Counts an independent confirmation; false when `accuser` had accused already, or when K have confirmed
    /// (memberlist's: the deadline is at its minimum then, and a further confirmation is not news to spread). So a
    /// suspicion holds at most K + 1 accusers, where a dead member's could gather one from every prober.
    mutating func confirm(by accuser: String) -> Bool {
        guard confirmations < expectedConfirmations, !accusers.contains(accuser) else { return false }
        accusers.append(accuser)
        updateDeadline()
        return true
    }

    private mutating func updateDeadline() {
        deadline = start + GossipFormulas.remainingSuspicionTime(
            confirmations: confirmations, k: expectedConfirmations, elapsed: .zero, min: minimum, max: maximum)
    }
}

/// Every suspicion a member holds, and when each next needs attention.
///
/// With a whole cluster under suspicion a tick must not look at each one (copying every suspicion on every tick
/// was a fifth of a member's work while a cluster of 125 failed): the instants are kept in a min-heap, one entry
/// per change, and an entry whose suspicion has changed or ended since is skipped when it comes up.
struct Suspicions: Sendable {
    typealias Instant = ContinuousClock.Instant

    private var byMember: [MemberKey: Suspicion] = [:]
    /// (wake, member) of every change, earliest first; stale entries are dropped as they surface.
    private var heap: [(at: Instant, key: MemberKey)] = []

    var isEmpty: Bool { byMember.isEmpty }
    var count: Int { byMember.count }

    /// No suspicion needs attention before this (a lower bound: the earliest entry may be stale).
    var wake: Instant? { heap.first?.at }

    subscript(key: MemberKey) -> Suspicion? { byMember[key] }

    /// Stores `suspicion` of `key` (a new one, or one just confirmed or nudged) and wakes for it.
    mutating func set(_ suspicion: Suspicion, of key: MemberKey) {
        byMember[key] = suspicion
        push(suspicion.wake, key)
    }

    /// Ends the suspicion of `key`, if any (refuted, declared dead, or the member gone).
    mutating func end(_ key: MemberKey) {
        guard byMember.removeValue(forKey: key) != nil else { return }
        // The last one gone: give the room back, which after a cluster failed is some hundreds of kB a member.
        if byMember.isEmpty { heap.removeAll(keepingCapacity: heap.capacity <= 64) }
    }

    /// Counts a confirmation of the suspicion of `key`: nil when there is none, false when `accuser` had accused
    /// already, true when it shortened the suspicion.
    mutating func confirm(_ key: MemberKey, by accuser: String) -> Bool? {
        guard byMember[key] != nil else { return nil }
        // In place: a copy would copy the accusers too.
        guard byMember[key]!.confirm(by: accuser) else { return false }
        push(byMember[key]!.wake, key)
        return true
    }

    /// Moves the next nudge of the suspicion of `key` to `at`.
    mutating func nudged(_ key: MemberKey, next at: Instant) {
        guard byMember[key] != nil else { return }
        byMember[key]!.nextNudgeAt = at
        push(byMember[key]!.wake, key)
    }

    /// The suspicions that need attention at `now` (a nudge or their end), in a fixed order.
    mutating func due(now: Instant) -> [MemberKey] {
        guard !byMember.isEmpty else {
            heap.removeAll(keepingCapacity: heap.capacity <= 64)
            return []
        }
        var due: Set<MemberKey> = []
        while let top = heap.first, now >= top.at {
            pop()
            if let s = byMember[top.key], now >= s.wake { due.insert(top.key) }
        }
        return due.sorted { ($0.name, $0.generation) < ($1.name, $1.generation) }
    }

    private mutating func push(_ at: Instant, _ key: MemberKey) {
        heap.append((at, key))
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].at < heap[parent].at else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    private mutating func pop() {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var least = i
            if l < heap.count, heap[l].at < heap[least].at { least = l }
            if r < heap.count, heap[r].at < heap[least].at { least = r }
            guard least != i else { return }
            heap.swapAt(i, least)
            i = least
        }
    }
}
