import Wire

/// What became of a drain order handed to this member by its admin API.
public enum DrainOutcome: Sendable, Equatable {
    /// Verified, stored and on its way to every member.
    case accepted
    /// Verified or not, no news: an order as new or newer is held for its cluster and route.
    case superseded
    /// Refused: the sentence says why.
    case rejected(RecordRejection)
}

/// Operators' drain orders: checked against the roster's operator keys, kept newest-first per cluster and route
/// (`DrainStore`), gossiped with the digests and carried whole in every state sync, so that a member that joins or
/// restarts learns them from anyone.
extension GossipCore {
    /// Every drain order held (in force, ended or undrains kept to outrank replays), sorted by cluster and route.
    public var drains: [SignedDrain] { drainStore.all }

    /// A drain order from another member: stored and passed on when it is news and verifies.
    mutating func receive(_ signed: SignedDrain, now: Instant, wallClockMillis: UInt64, rng: inout some RandomNumberGenerator) {
        _ = accept(signed, now: now, wallClockMillis: wallClockMillis, rng: &rng)
    }

    /// An order from this member's admin API: the same checks, and the outcome for the caller.
    public mutating func onLocalDrain(
        _ signed: SignedDrain, now: ContinuousClock.Instant, wallClockMillis: UInt64, rng: inout some RandomNumberGenerator
    ) -> (outcome: DrainOutcome, directives: [GossipDirective]) {
        let outcome = accept(signed, now: now, wallClockMillis: wallClockMillis, rng: &rng)
        return (outcome, finishInput(now: now))
    }

    private mutating func accept(
        _ signed: SignedDrain, now: Instant, wallClockMillis: UInt64, rng: inout some RandomNumberGenerator
    ) -> DrainOutcome {
        guard drainStore.isNews(signed, nowMillis: wallClockMillis) else { return .superseded }
        if let rejection = verifier.verify(signed, nowMillis: wallClockMillis) {
            out.append(.recordRejected(rejection))
            return .rejected(rejection)
        }
        guard drainStore.store(signed, nowMillis: wallClockMillis) else { return .superseded }
        out.append(.drainAccepted(signed))
        let message = GossipMessage.drain(signed)
        let target = signed.drain.target
        dissemination.enqueueDigest(message, key: "r:\(target.cluster)/\(target.route)", size: WireEncoding.encodedSize(of: message))
        scheduleGossip(now: now, rng: &rng)
        return .accepted
    }
}
