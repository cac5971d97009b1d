import Wire

/// One member name held by two or more live processes at once: a node name started twice.
///
/// A restart is not a conflict: a new generation replaces its predecessor at once, because the predecessor is
/// gone. A conflict is a predecessor that is still running: it answered a ping addressed to its own generation
/// after a newer one of its name appeared. Both then stay members, each probed and vouching on its own, and the
/// end of one never ends the other; but the name is ambiguous to operators and to rendezvous hashing, so the core
/// reports it for the daemon to log, count and show.
public struct NameConflict: Hashable, Sendable, CustomStringConvertible {
    /// The name in dispute.
    public var name: String
    /// The live generations that claim it, oldest first, with their addresses (this member among them when it is
    /// one of the claimants).
    public var members: [MemberSnapshot]

    /// Creates a conflict report.
    public init(name: String, members: [MemberSnapshot]) {
        self.name = name
        self.members = members.sorted { $0.identity.generation < $1.identity.generation }
    }

    /// What happened and what to do, as a sentence for the log.
    public var description: String {
        let who = members.map { "generation \($0.identity.generation) at \($0.address)" }.joined(separator: " and ")
        return "member name \(name) is used by \(members.count) running processes (\(who)): both keep their place in "
            + "the mesh, but give every agent a unique `node` name and stop the extra one"
    }
}

/// Finding out whether an older generation of a name is still running.
///
/// A record of a generation older than the one held, or a predecessor being replaced, may be a stale rumour of a
/// restarted member (the common case) or a process that still runs beside its namesake. Its signature cannot tell:
/// a dead process's records stay valid forever. A ping addressed to that exact generation can: only the process
/// itself answers it. These are the pings under way and what the silent ones taught, so that a replayed record is
/// checked once per incarnation, not at every copy.
struct GenerationChecks: Sendable {
    typealias Instant = ContinuousClock.Instant

    struct Check: Sendable {
        var record: SignedMemberRecord
        var expiresAt: Instant
        /// Whether the ping was already sent a second time (one loss must not hide a live process).
        var retried: Bool
    }

    /// Checks under way, by the sequence number of their ping.
    private(set) var pending: [UInt32: Check] = [:]
    /// Older generations that did not answer (or whose address a newer generation holds): the incarnation up to
    /// which their records are old news, and since when.
    private var silent: [MemberKey: (incarnation: UInt64, since: Instant)] = [:]

    /// Checks under way at most: each is one small ping, but replays must not turn a member into a ping cannon.
    static let maxPending = 64
    /// Silent generations remembered at most (oldest forgotten first): as many as tombstones, whose role they share.
    let maxSilent: Int

    init(maxSilent: Int) {
        self.maxSilent = maxSilent
    }

    var isEmpty: Bool { pending.isEmpty && silent.isEmpty }

    /// When the earliest check times out.
    var nextExpiry: Instant? { pending.values.lazy.map(\.expiresAt).min() }

    /// Whether a record of `key` at `incarnation` is worth a ping: not known silent at that incarnation, not
    /// already being checked, and room left.
    func shouldCheck(_ key: MemberKey, incarnation: UInt64) -> Bool {
        if let s = silent[key], s.incarnation >= incarnation { return false }
        guard pending.count < Self.maxPending else { return false }
        return !pending.values.contains { $0.record.name == key.name && $0.record.generation == key.generation }
    }

    mutating func start(sequence: UInt32, record: SignedMemberRecord, expiresAt: Instant) {
        pending[sequence] = Check(record: record, expiresAt: expiresAt, retried: false)
    }

    /// The check answered by an ack with `sequence` from `source`, removed; nil when there is none.
    mutating func answer(sequence: UInt32, from source: String) -> SignedMemberRecord? {
        guard let check = pending[sequence], check.record.name == source else { return nil }
        pending[sequence] = nil
        return check.record
    }

    /// Takes the checks that timed out: those to ping once more (returned), and those that stay silent (remembered).
    mutating func expire(now: Instant) -> [SignedMemberRecord] {
        guard !pending.isEmpty else { return [] }
        var again: [SignedMemberRecord] = []
        for (sequence, check) in pending.sorted(by: { $0.key < $1.key }) where now >= check.expiresAt {
            pending[sequence] = nil
            if check.retried {
                markSilent(check.record, now: now)
            } else {
                again.append(check.record)
            }
        }
        return again
    }

    /// Starts the second ping of a check.
    mutating func retry(sequence: UInt32, record: SignedMemberRecord, expiresAt: Instant) {
        pending[sequence] = Check(record: record, expiresAt: expiresAt, retried: true)
    }

    /// Remembers that `record`'s generation is gone up to its incarnation.
    mutating func markSilent(_ record: SignedMemberRecord, now: Instant) {
        let key = MemberKey(name: record.name, generation: record.generation)
        let incarnation = max(silent[key]?.incarnation ?? 0, record.record.incarnation)
        silent[key] = (incarnation, now)
        if silent.count > maxSilent, let oldest = silent.min(by: { $0.value.since < $1.value.since }) {
            silent[oldest.key] = nil
        }
    }

    /// Forgets silent generations older than `age`.
    mutating func forget(olderThan age: Duration, now: Instant) {
        guard !silent.isEmpty else { return }
        silent = silent.filter { now - $0.value.since <= age }
    }
}
