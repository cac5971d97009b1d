import Wire

/// A digest vouches for its cluster only for a while after it was issued: a lease.
///
/// An agent whose probe loop stalls while its gossip still runs would otherwise keep vouching with its last
/// digest for ever, and the table would route to a cluster nobody has checked for hours. Agents re-issue their
/// digest at least every 30 s, so a digest older than a few refresh intervals means the agent's prober is stuck.
///
/// Age is the gateway's wall clock minus the digest's issue time, both given to the pure builder as values
/// (`TableInputs.wallClockMillis`, `HealthDigest.issuedAtMillis`). A digest issued "in the future" (clock skew,
/// which the gossip layer bounds at 30 s) is of age 0.
public enum DigestLease {
    /// The digest's age at `nowMillis`, never negative.
    public static func ageMillis(issuedAt: UInt64, now nowMillis: UInt64) -> UInt64 {
        nowMillis >= issuedAt ? nowMillis - issuedAt : 0
    }

    /// Whether a digest issued at `issuedAt` has outlived `lease` at `nowMillis`. A digest exactly as old as its
    /// lease still vouches; one millisecond more and it does not.
    public static func isExpired(issuedAt: UInt64, now nowMillis: UInt64, lease: Duration) -> Bool {
        ageMillis(issuedAt: issuedAt, now: nowMillis) > millis(lease)
    }

    /// The wall-clock instant at which the digest stops vouching (the first millisecond it is expired).
    public static func expiryMillis(issuedAt: UInt64, lease: Duration) -> UInt64 {
        let (sum, overflow) = issuedAt.addingReportingOverflow(millis(lease) &+ 1)
        return overflow ? .max : sum
    }

    /// A lease in whole milliseconds (negative leases count as zero).
    static func millis(_ lease: Duration) -> UInt64 {
        let (seconds, attoseconds) = lease.components
        guard seconds >= 0 else { return 0 }
        let whole = UInt64(seconds).multipliedReportingOverflow(by: 1000)
        return whole.overflow ? .max : whole.partialValue &+ UInt64(max(0, attoseconds) / 1_000_000_000_000_000)
    }

    /// Why a cluster's live agents no longer vouch: their digests' leases ran out.
    ///
    /// The text names the agents and the newest issue time rather than a running age, so that the reason, and
    /// with it the table's version, stays the same from one rebuild to the next while nothing changes.
    static func reason(_ expired: [Expired], lease: Duration) -> String {
        let sorted = expired.sorted { ($0.issuedAtMillis, $0.origin) > ($1.issuedAtMillis, $1.origin) }
        guard let newest = sorted.first else { return "" }
        let names = sorted.prefix(3).map(\.origin).sorted()
        let more = sorted.count > 3 ? " and \(sorted.count - 3) more" : ""
        let issued = Timestamp.iso8601(millis: newest.issuedAtMillis)
        if sorted.count == 1 {
            return "the digest from \(newest.origin) is past the \(TableBuilder.format(lease)) lease (issued \(issued)): is its agent's probe loop stalled?"
        }
        return "the digests from \(names.joined(separator: ", "))\(more) are past the \(TableBuilder.format(lease)) lease (newest issued \(issued)): are their agents' probe loops stalled?"
    }

    /// A live member's digest that no longer vouches because it is too old.
    struct Expired: Hashable {
        var origin: String
        var issuedAtMillis: UInt64
    }
}
