/// One member's suspicion of another: Lifeguard's timer, shortened by independent confirmations (memberlist's
/// `suspicion`). A timer is data: its deadline is stored and checked on ticks, never a callback.
struct Suspicion: Sendable {
    typealias Instant = ContinuousClock.Instant

    // Every survivor of a cluster of 1,250 killed at once holds 1,250 of these, so they are kept small (104 bytes):
    // whole milliseconds where the formulas give whole milliseconds, nanoseconds after the start for the other
    // instants, accusers as hashes, no allocation.
    let start: Instant
    let incarnation: UInt64
    /// `nextNudgeAt` and `queuedAt`, in nanoseconds after `start`: 8 bytes where an instant takes 16.
    private var nudgeNanos: Int64
    fileprivate var queuedNanos: Int64
    /// This suspicion's one live entry in `Suspicions`' heap: its serial (0: none).
    fileprivate var queuedSerial: UInt64 = 0
    /// The distinct members that accused: the first the originator, the others confirmations.
    private var accusers: AccuserSet
    private let minimumMillis: Int32
    /// When the suspect is declared dead unless it refutes, after `start`: moves earlier with each confirmation.
    /// Kept rather than computed on every tick, which with a whole cluster under suspicion is most of a member's work.
    private var deadlineMillis: Int32 = 0
    /// `maximum = minimum · maximumFactor`.
    private let maximumFactor: UInt8
    /// Lifeguard's K for this suspicion: 0 when the mesh is too small to ever confirm K times.
    let expectedConfirmations: UInt8

    init(start: Instant, incarnation: UInt64, accuser: String, minimum: Duration, maximumFactor: Int,
         nextNudgeAt: Instant, expectedConfirmations: Int) {
        self.start = start
        self.incarnation = incarnation
        self.nudgeNanos = wholeNanoseconds(nextNudgeAt - start, roundingUp: false)
        self.queuedNanos = 0
        self.accusers = AccuserSet(first: accuser)
        self.minimumMillis = Int32(clamping: Self.millis(minimum))
        self.maximumFactor = UInt8(clamping: max(1, maximumFactor))
        self.expectedConfirmations = UInt8(clamping: max(0, expectedConfirmations))
        updateDeadline()
    }

    /// A suspicion begun now of one of `n` members (this one included), with the settings' formulas: the minimum
    /// `suspicionMult · max(1, log10 n) · probeInterval`, the maximum `suspicionMaxMult` times it, and K expected
    /// confirmations unless fewer than K others could ever confirm (memberlist's `n - 2 < k`).
    init(of n: Int, at now: Instant, incarnation: UInt64, accuser: String, settings: GossipSettings) {
        let minimum = GossipFormulas.suspicionMinimum(mult: settings.suspicionMult, n: n, probeInterval: settings.probeInterval)
        self.init(start: now, incarnation: incarnation, accuser: accuser, minimum: minimum,
                  maximumFactor: settings.suspicionMaxMult, nextNudgeAt: now + settings.probeInterval,
                  expectedConfirmations: n - 2 < settings.suspicionConfirmations ? 0 : settings.suspicionConfirmations)
    }

    /// When the suspect is next told of the suspicion directly, in case the last word or its answer was lost.
    var nextNudgeAt: Instant {
        get { start + .nanoseconds(nudgeNanos) }
        set { nudgeNanos = wholeNanoseconds(newValue - start, roundingUp: false) }
    }

    /// When this suspicion's live entry in `Suspicions`' heap comes up.
    fileprivate var queuedAt: Instant {
        get { start + .nanoseconds(queuedNanos) }
        set { queuedNanos = wholeNanoseconds(newValue - start, roundingUp: false) }
    }

    var minimum: Duration { .milliseconds(Int64(minimumMillis)) }
    var maximum: Duration { minimum * Int(maximumFactor) }
    var deadline: Instant { start + .milliseconds(Int64(deadlineMillis)) }

    var confirmations: Int { max(0, Int(accusers.count) - 1) }

    /// When this suspicion next needs attention: its nudge or its end.
    var wake: Instant { min(deadline, nextNudgeAt) }

    /// Counts an independent confirmation; false when `accuser` had accused already, or when K have confirmed
    /// (memberlist's: the deadline is at its minimum then, and a further confirmation is not news to spread). So a
    /// suspicion holds at most K + 1 accusers, where a dead member's could gather one from every prober.
    mutating func confirm(by accuser: String) -> Bool {
        guard confirmations < Int(expectedConfirmations), accusers.insert(accuser) else { return false }
        updateDeadline()
        return true
    }

    /// Whether `accuser`'s word would change nothing: it has accused already, or K have confirmed (`confirm`).
    func hasCounted(_ accuser: String) -> Bool {
        confirmations >= Int(expectedConfirmations) || accusers.contains(accuser)
    }

    private mutating func updateDeadline() {
        let remaining = GossipFormulas.remainingSuspicionTime(
            confirmations: confirmations, k: Int(expectedConfirmations), elapsed: .zero, min: minimum, max: maximum)
        deadlineMillis = Int32(clamping: Self.millis(remaining))
    }

    /// Whole milliseconds of `d` (the suspicion formulas round to them).
    private static func millis(_ d: Duration) -> Int64 {
        let c = d.components
        return c.seconds * 1000 + c.attoseconds / 1_000_000_000_000_000
    }
}

/// The accusers of one suspicion, as 64-bit hashes of their names: four inline (K + 1 with the profiles' K of at
/// most 3), more in an array only for a larger K. Names would cost an array and its allocation per suspicion, and
/// a survivor of a cluster of 1,250 killed at once holds 1,250 suspicions. Two names with the same hash count as
/// one accuser: the suspicion then waits for one more confirmation, never for fewer, so a collision (about 2⁻⁶⁴ a
/// pair) can only delay a death, never hasten one.
struct AccuserSet: Sendable {
    private var inline: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    private var overflow: [UInt64] = []
    private(set) var count: UInt16 = 0

    init(first: String) { _ = insert(first) }

    /// Whether `name` (or a name of the same hash) is held.
    func contains(_ name: String) -> Bool {
        let h = NameHash.of(name)
        for i in 0..<Int(count) where self[i] == h { return true }
        return false
    }

    /// Adds `name`; false when it (or a name of the same hash) is held already.
    mutating func insert(_ name: String) -> Bool {
        let h = NameHash.of(name)
        for i in 0..<Int(count) where self[i] == h { return false }
        switch count {
        case 0: inline.0 = h
        case 1: inline.1 = h
        case 2: inline.2 = h
        case 3: inline.3 = h
        default: overflow.append(h)
        }
        count += 1
        return true
    }

    private subscript(i: Int) -> UInt64 {
        switch i {
        case 0: inline.0
        case 1: inline.1
        case 2: inline.2
        case 3: inline.3
        default: overflow[i - 4]
        }
    }
}

/// Every suspicion a member holds, and when each next needs attention.
///
/// With a whole cluster under suspicion a tick must not look at each one (copying every suspicion on every tick
/// was a fifth of a member's work while a cluster of 125 failed): the instants are kept in a min-heap.
struct Suspicions: Sendable {
    typealias Instant = ContinuousClock.Instant

    private var byMember = SuspicionTable()
    /// (wake, serial, member), earliest first (then lowest serial, so the order is fixed). Each suspicion has one
    /// live entry, the one whose serial it holds; the others (of a suspicion since changed or ended) are dropped as
    /// they surface. A change that moves the wake later pushes nothing: its live entry comes up early and is pushed
    /// again at the new wake. So a confirmation, which leaves the wake at the nudge, costs no heap entry.
    private var heap: [Entry] = []
    private var nextSerial: UInt64 = 0
    /// The instant the heap's times count from (the first suspicion's wake).
    private var base: Instant?

    private struct Entry {
        /// Nanoseconds after `base`, rounded up: an entry never comes up before its wake. (8 bytes where an
        /// instant takes 16, and compared as an integer.)
        var at: Int64
        var serial: UInt64
        var key: MemberKey

        func precedes(_ other: Entry) -> Bool { at != other.at ? at < other.at : serial < other.serial }
    }

    var isEmpty: Bool { byMember.isEmpty }
    var count: Int { byMember.count }
    /// The members suspected, in no particular order.
    var keys: [MemberKey] { byMember.keys }

    /// No suspicion needs attention before this (a lower bound: the earliest entry may be stale).
    var wake: Instant? {
        guard let base, let first = heap.first else { return nil }
        return base + .nanoseconds(first.at)
    }

    subscript(key: MemberKey) -> Suspicion? { byMember.slot(of: key).map { byMember[$0] } }

    /// Stores `suspicion` of `key` (a new one, replacing any held) and wakes for it.
    mutating func set(_ suspicion: Suspicion, of key: MemberKey) {
        var suspicion = suspicion
        suspicion.queuedSerial = 0
        requeue(key, at: byMember.set(suspicion, of: key))
    }

    /// Ends the suspicion of `key`, if any (refuted, declared dead, or the member gone).
    mutating func end(_ key: MemberKey) {
        guard byMember.remove(key) else { return }
        // The last one gone: give the heap's room back too.
        if byMember.isEmpty { heap.removeAll(keepingCapacity: heap.capacity <= 64) }
    }

    /// Whether there is a suspicion of `key` on which `accuser`'s word would change nothing (`Suspicion.hasCounted`).
    func hasCounted(_ key: MemberKey, accuser: String) -> Bool {
        guard let i = byMember.slot(of: key) else { return false }
        return byMember[i].hasCounted(accuser)
    }

    /// Counts a confirmation of the suspicion of `key`: nil when there is none, false when `accuser` had accused
    /// already, true when it shortened the suspicion.
    mutating func confirm(_ key: MemberKey, by accuser: String) -> Bool? {
        guard let i = byMember.slot(of: key) else { return nil }
        // In place, through the slot: a copy out and back would look the key up twice more.
        guard byMember[i].confirm(by: accuser) else { return false }
        requeue(key, at: i)
        return true
    }

    /// Moves the next nudge of the suspicion of `key` to `at`.
    mutating func nudged(_ key: MemberKey, next at: Instant) {
        guard let i = byMember.slot(of: key) else { return }
        byMember[i].nextNudgeAt = at
        requeue(key, at: i)
    }

    /// The suspicions that need attention at `now` (a nudge or their end), sorted by member.
    mutating func due(now: Instant) -> [MemberKey] {
        guard !byMember.isEmpty else {
            heap.removeAll(keepingCapacity: heap.capacity <= 64)
            return []
        }
        var due: [MemberKey] = []
        var later: [MemberKey] = []
        let nowNanos = base.map { wholeNanoseconds(now - $0, roundingUp: false) } ?? .min
        while let top = heap.first, nowNanos >= top.at {
            pop()
            guard let i = byMember.slot(of: top.key), byMember[i].queuedSerial == top.serial else { continue }
            byMember[i].queuedSerial = 0
            if now >= byMember[i].wake { due.append(top.key) } else { later.append(top.key) }
        }
        // Their wakes moved later since they were queued: queued again, at the new wake.
        for key in later {
            if let i = byMember.slot(of: key) { requeue(key, at: i) }
        }
        // Each key comes up once (one live entry each); the order is by member, not by heap position.
        if due.count > 1 { due.sort { ($0.name, $0.generation) < ($1.name, $1.generation) } }
        return due
    }

    /// Makes sure the live entry of `key`'s suspicion comes up no later than its wake: pushes one when it has
    /// none, or when its wake moved earlier than the entry; an entry earlier than the wake is left to surface.
    private mutating func requeue(_ key: MemberKey, at i: Int) {
        let wake = byMember[i].wake
        if byMember[i].queuedSerial != 0, byMember[i].queuedAt <= wake { return }
        nextSerial += 1
        byMember[i].queuedAt = wake
        byMember[i].queuedSerial = nextSerial
        if base == nil { base = wake }
        push(Entry(at: wholeNanoseconds(wake - base!, roundingUp: true), serial: nextSerial, key: key))
    }

    private mutating func push(_ entry: Entry) {
        heap.appendGrowingByAQuarter(entry)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].precedes(heap[parent]) else { break }
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
            if l < heap.count, heap[l].precedes(heap[least]) { least = l }
            if r < heap.count, heap[r].precedes(heap[least]) { least = r }
            guard least != i else { return }
            heap.swapAt(i, least)
            i = least
        }
    }
}

/// Whole nanoseconds of `d` (the clocks' resolution), rounded up or down.
private func wholeNanoseconds(_ d: Duration, roundingUp: Bool) -> Int64 {
    let c = d.components
    let whole = c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000
    let rest = c.attoseconds % 1_000_000_000
    if roundingUp, rest > 0 { return whole + 1 }
    if !roundingUp, rest < 0 { return whole - 1 }
    return whole
}
