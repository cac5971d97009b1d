import MeshCrypto
import Synchronization
import Wire

/// The keys a reload may replace while the process runs: the trust roster every received record is checked
/// against, and the cluster key this agent signs with. The gossip core reads both through here on every record,
/// so a swap needs no rebuild of the core and loses no membership.
final class LiveKeys: Sendable {
    private let roster: Mutex<TrustRoster>
    /// The signer handed to the gossip service; nil for a gateway, which signs nothing.
    let signer: LiveSigner?

    init(roster: TrustRoster, signing: SigningKeyPair?) {
        self.roster = Mutex(roster)
        self.signer = signing.map(LiveSigner.init)
    }

    /// The roster in force.
    var currentRoster: TrustRoster { roster.withLock { $0 } }

    /// Checks received records against whichever roster is in force at the time.
    var verifier: RecordVerifier {
        var verifier = RecordVerifier(roster: currentRoster)
        verifier.liveRoster = { [self] in currentRoster }
        return verifier
    }

    /// Puts `roster` in force from the next record on.
    func replace(roster new: TrustRoster) { roster.withLock { $0 = new } }
}

/// A cluster signing key that a reload can switch (a key rotation) while gossip runs.
final class LiveSigner: MessageSigner {
    private let pair: Mutex<SigningKeyPair>

    init(_ pair: SigningKeyPair) { self.pair = Mutex(pair) }

    var keyID: KeyID { pair.withLock { $0.keyID } }

    var publicKey: PublicKey { pair.withLock { $0.publicKey } }

    func sign(_ message: [UInt8]) -> [UInt8] { pair.withLock { $0 }.sign(message) }

    /// Signs with `new` from the next record on. A record signed while the switch happens may carry the old key's id
    /// with the new key's signature and be refused once; the agent's next digest (within the probe interval) heals it.
    func replace(_ new: SigningKeyPair) { pair.withLock { $0 = new } }
}
