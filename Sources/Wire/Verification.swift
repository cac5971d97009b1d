import MeshCrypto

/// Why a signed digest or member record was refused. Each case is logged and counted by `reason`.
public enum RecordRejection: Error, Hashable, Sendable, CustomStringConvertible {
    case unknownCluster(String)
    case untrustedKey(cluster: String, keyID: KeyID)
    case badSignature(origin: String)
    case notNewer(origin: String, received: DigestOrder, stored: DigestOrder)
    case fromTheFuture(origin: String, aheadMillis: UInt64)
    case unsigned(origin: String)
    /// A drain signed by a key that the roster's `operators` do not list (a cluster key included).
    case untrustedOperator(keyID: KeyID)
    /// A drain that would last longer than `DrainRules.maxDuration`.
    case drainTooLong(cluster: String, millis: UInt64)
    /// A member record that would move a member of one cluster to another within its generation, or take a
    /// cluster's member out of every cluster: an unsigned clusterless record must not take over a signed member.
    case clusterChanged(origin: String, held: String, received: String)

    public var reason: String {
        switch self {
        case .unknownCluster: return "unknown_cluster"
        case .untrustedKey: return "untrusted_key"
        case .badSignature: return "bad_signature"
        case .notNewer: return "not_newer"
        case .fromTheFuture: return "future_timestamp"
        case .unsigned: return "unsigned"
        case .untrustedOperator: return "untrusted_operator"
        case .drainTooLong: return "drain_too_long"
        case .clusterChanged: return "cluster_changed"
        }
    }

    public var description: String {
        switch self {
        case .unknownCluster(let c): return "cluster \(c) is not in the trust roster"
        case .untrustedKey(let c, let k): return "key \(k) is not trusted for cluster \(c)"
        case .badSignature(let o): return "the signature of \(o)'s record does not verify"
        case .notNewer(let o, let r, let s): return "\(o)'s digest \(r) is not newer than the stored \(s)"
        case .fromTheFuture(let o, let ms): return "\(o)'s digest claims to be issued \(ms) ms in the future"
        case .unsigned(let o): return "\(o) serves a cluster but its record is unsigned"
        case .untrustedOperator(let k): return "key \(k) is not an operator key of the trust roster (trust.yaml `operators`)"
        case .drainTooLong(let c, let ms): return "the drain of \(c) would last \(ms / 1000) s, more than the \(DrainRules.maxDurationMillis / 3_600_000) h allowed"
        case .clusterChanged(let o, let held, let received):
            return "a record would move \(o) from cluster \(held) to \(received.isEmpty ? "no cluster" : received)"
        }
    }
}

/// Checks signed records against the trust roster before anything is stored or relayed.
public struct RecordVerifier: Sendable {
    public var roster: TrustRoster
    public var verifier: any SignatureVerifier
    /// How far in the future (by the receiver's wall clock) an issue time may lie: clock skew between nodes.
    public var maxFutureSkewMillis: UInt64
    /// Where a running process keeps a roster it replaces on reload; when set, each check reads it (once) instead
    /// of `roster`, so a roster edit takes effect without rebuilding the gossip core.
    public var liveRoster: (@Sendable () -> TrustRoster)?

    public init(roster: TrustRoster, verifier: any SignatureVerifier = Ed25519Verifier(), maxFutureSkewMillis: UInt64 = 30_000) {
        self.roster = roster
        self.verifier = verifier
        self.maxFutureSkewMillis = maxFutureSkewMillis
    }

    /// Verifies `signed` as the successor of `stored` (the order of the digest already held for its origin).
    public func verify(_ signed: SignedDigest, stored: DigestOrder?, nowMillis: UInt64) -> RecordRejection? {
        let d = signed.digest
        if let stored, d.order <= stored {
            return .notNewer(origin: d.origin.name, received: d.order, stored: stored)
        }
        if d.issuedAtMillis > nowMillis, d.issuedAtMillis - nowMillis > maxFutureSkewMillis {
            return .fromTheFuture(origin: d.origin.name, aheadMillis: d.issuedAtMillis - nowMillis)
        }
        let key: PublicKey
        switch trustedKey(cluster: d.origin.cluster, keyID: signed.keyID) {
        case .success(let trusted): key = trusted
        case .failure(let rejection): return rejection
        }
        guard verifier.isValid(signature: signed.signature, of: WireEncoding.signedBytes(of: d), by: key) else {
            return .badSignature(origin: d.origin.name)
        }
        return nil
    }

    /// Verifies a member's own alive or left record. Clusterless members (gateways) may be unsigned.
    public func verify(_ signed: SignedMemberRecord) -> RecordRejection? {
        let identity = signed.record.identity
        if identity.cluster.isEmpty { return nil }
        guard signed.isSigned else { return .unsigned(origin: identity.name) }
        let key: PublicKey
        switch trustedKey(cluster: identity.cluster, keyID: signed.keyID) {
        case .success(let trusted): key = trusted
        case .failure(let rejection): return rejection
        }
        guard verifier.isValid(signature: signed.signature, of: WireEncoding.signedBytes(of: signed.record), by: key) else {
            return .badSignature(origin: identity.name)
        }
        return nil
    }

    /// Verifies an operator's drain order: signed by a key the roster lists under `operators`, not issued in the
    /// future, not longer than `DrainRules.maxDurationMillis`.
    public func verify(_ signed: SignedDrain, nowMillis: UInt64) -> RecordRejection? {
        let d = signed.drain
        if d.issuedAtMillis > nowMillis, d.issuedAtMillis - nowMillis > maxFutureSkewMillis {
            return .fromTheFuture(origin: "a drain of \(d.cluster)", aheadMillis: d.issuedAtMillis - nowMillis)
        }
        if !d.isUndrain, d.untilMillis - d.issuedAtMillis > DrainRules.maxDurationMillis {
            return .drainTooLong(cluster: d.cluster, millis: d.untilMillis - d.issuedAtMillis)
        }
        let roster = liveRoster?() ?? self.roster
        guard let key = roster.operatorKey(signed.keyID) else { return .untrustedOperator(keyID: signed.keyID) }
        guard verifier.isValid(signature: signed.signature, of: WireEncoding.signedBytes(of: d), by: key) else {
            return .badSignature(origin: "operator \(signed.keyID)")
        }
        return nil
    }

    /// The key `keyID` if the roster in force trusts it for `cluster`; the roster is read once, so a reload between
    /// the check and the lookup cannot split them.
    private func trustedKey(cluster: String, keyID: KeyID) -> Result<PublicKey, RecordRejection> {
        let roster = liveRoster?() ?? self.roster
        guard roster.contains(cluster: cluster) else { return .failure(.unknownCluster(cluster)) }
        guard let key = roster.key(keyID, forCluster: cluster) else { return .failure(.untrustedKey(cluster: cluster, keyID: keyID)) }
        return .success(key)
    }
}
