import Synchronization
import Wire

/// Remembers records whose signatures have already been verified, so that the same digest or member record is
/// not checked again with Ed25519 at every hop.
///
/// It memoises a pure function (signature validity of exact bytes), so sharing one memo between many cores in a
/// simulation changes no outcome, only the cost. Keys are the whole signed records, never hashes of them: a
/// forged record can only hit the memo by being byte-for-byte a verified one.
public final class VerificationMemo: Sendable {
    private struct State {
        var digests: Set<SignedDigest> = []
        var members: Set<SignedMemberRecord> = []
    }
    private let state = Mutex(State())
    private let capacity: Int

    /// Creates an empty memo that forgets everything once it holds `capacity` records of a kind.
    public init(capacity: Int = 100_000) {
        self.capacity = capacity
    }

    func contains(_ digest: SignedDigest) -> Bool { state.withLock { $0.digests.contains(digest) } }
    func contains(_ record: SignedMemberRecord) -> Bool { state.withLock { $0.members.contains(record) } }

    func insert(_ digest: SignedDigest) {
        state.withLock {
            if $0.digests.count >= capacity { $0.digests.removeAll(keepingCapacity: true) }
            $0.digests.insert(digest)
        }
    }

    func insert(_ record: SignedMemberRecord) {
        state.withLock {
            if $0.members.count >= capacity { $0.members.removeAll(keepingCapacity: true) }
            $0.members.insert(record)
        }
    }
}
