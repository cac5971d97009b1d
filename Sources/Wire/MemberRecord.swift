import MeshCrypto
import Synchronization

/// Whether a member record announces the member (alive) or its graceful departure (left).
public enum MemberRecordStatus: UInt8, Hashable, Sendable {
    case alive = 1
    case left = 2
}

/// A member's own statement that it is alive (or has left) at an incarnation, signed with its cluster key.
/// Only the member itself issues these, so a relayed or replayed old record can never revive a dead member.
public struct MemberRecord: Hashable, Sendable {
    public var identity: MemberIdentity
    public var address: PeerAddress
    public var incarnation: UInt64
    public var status: MemberRecordStatus

    public init(identity: MemberIdentity, address: PeerAddress, incarnation: UInt64, status: MemberRecordStatus) {
        self.identity = identity
        self.address = address
        self.incarnation = incarnation
        self.status = status
    }
}

/// A member record with its signature. Members that serve no cluster (gateways) have no cluster key; their
/// records carry key id 0 and an empty signature, and never decide failover.
///
/// A value with one shared, immutable box inside: every member of a mesh holds one record per other member, so
/// a copy costs a pointer rather than ~120 bytes, and the copies of one received record share their storage.
public struct SignedMemberRecord: Hashable, Sendable {
    private final class Storage: Sendable {
        let record: MemberRecord
        let keyID: KeyID
        /// Inside the box rather than in an array of its own (`SignatureBytes`).
        let signature: SignatureBytes
        /// The hash of the three, made on first use (0: not yet). A record shared by every member of a simulated
        /// mesh, or kept in the verification memo, is looked up many times: hashing its names and 64-byte signature
        /// each time was a sixth of setting up a mesh of thousands. Not made at decoding, which never needs it.
        let cachedHash = Atomic<Int>(0)

        init(record: MemberRecord, keyID: KeyID, signature: SignatureBytes) {
            self.record = record
            self.keyID = keyID
            self.signature = signature
        }

        var hash: Int {
            let cached = cachedHash.load(ordering: .relaxed)
            if cached != 0 { return cached }
            var hasher = Hasher()
            hasher.combine(record)
            hasher.combine(keyID)
            hasher.combine(signature)
            let made = hasher.finalize() | 1   // never 0, which means "not yet"
            cachedHash.store(made, ordering: .relaxed)
            return made
        }
    }

    private var storage: Storage

    public var record: MemberRecord {
        get { storage.record }
        set { storage = Storage(record: newValue, keyID: keyID, signature: storage.signature) }
    }
    public var keyID: KeyID {
        get { storage.keyID }
        set { storage = Storage(record: record, keyID: newValue, signature: storage.signature) }
    }
    /// The signature's bytes, copied out (verification and tests); encoding reads them in place.
    public var signature: [UInt8] {
        get { storage.signature.array }
        set { storage = Storage(record: record, keyID: keyID, signature: SignatureBytes(newValue)) }
    }

    public init(record: MemberRecord, keyID: KeyID, signature: [UInt8]) {
        storage = Storage(record: record, keyID: keyID, signature: SignatureBytes(signature))
    }

    /// For the decoder: the signature straight from the packet's bytes.
    init(record: MemberRecord, keyID: KeyID, signature: SignatureBytes) {
        storage = Storage(record: record, keyID: keyID, signature: signature)
    }

    public static func == (a: SignedMemberRecord, b: SignedMemberRecord) -> Bool {
        a.storage === b.storage || (a.record == b.record && a.keyID == b.keyID && a.storage.signature == b.storage.signature)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(storage.hash)
    }

    /// Calls `body` with the signature's bytes in place.
    func withSignatureBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R { storage.signature.withBytes(body) }

    var signatureCount: Int { storage.signature.count }

    /// Calls `body` with the record in its box, not copied out.
    func withRecord<R>(_ body: (borrowing MemberRecord) -> R) -> R { body(storage.record) }

    public init(signing record: MemberRecord, with signer: (some MessageSigner)?) {
        if let signer {
            self.init(record: record, keyID: signer.keyID, signature: signer.sign(WireEncoding.signedBytes(of: record)))
        } else {
            self.init(record: record, keyID: KeyID(rawValue: 0), signature: [])
        }
    }

    public var isSigned: Bool { storage.signature.count > 0 }

    // The fields the gossip core reads on every lookup, read in place: `record` copies the whole record out of the
    // shared storage (three names and an address), which was a fifth of setting up a simulated mesh of thousands.
    public var name: String { storage.record.identity.name }
    public var generation: UInt64 { storage.record.identity.generation }
    public var cluster: String { storage.record.identity.cluster }
}
