import MeshCrypto

/// A signer whose "signature" is a keyed 64-bit checksum: for large simulations, where real Ed25519 on every
/// record would dominate the run time. It proves nothing against an attacker and is never used outside tests.
public struct ChecksumSigner: MessageSigner {
    /// The key the checksum is bound to; its id travels with each signature as a real key's would.
    public let publicKey: PublicKey

    /// Creates a signer bound to a key made from `seed`.
    public init(seed: UInt8) {
        // Any 32 bytes make a syntactically valid public key for the roster.
        publicKey = (try? PublicKey(bytes: [UInt8](repeating: seed, count: 31) + [0x5A])) ?? ChecksumSigner.fallback
    }

    private static let fallback: PublicKey = {
        guard let key = try? PublicKey(bytes: [UInt8](repeating: 1, count: 32)) else { fatalError("a 32-byte key is valid") }
        return key
    }()

    /// The id of `publicKey`.
    public var keyID: KeyID { publicKey.keyID }

    /// The checksum of `message` under this key.
    public func sign(_ message: [UInt8]) -> [UInt8] {
        ChecksumSigner.checksum(message, key: publicKey)
    }

    static func checksum(_ message: [UInt8], key: PublicKey) -> [UInt8] {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key.bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        for b in message { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return (0..<8).map { UInt8(truncatingIfNeeded: h >> (8 * $0)) }
    }
}

/// Accepts exactly the checksums `ChecksumSigner` makes for the given key.
public struct ChecksumVerifier: SignatureVerifier {
    /// Creates the verifier.
    public init() {}

    /// Whether `signature` is the checksum of `message` under `key`.
    public func isValid(signature: [UInt8], of message: [UInt8], by key: PublicKey) -> Bool {
        signature == ChecksumSigner.checksum(message, key: key)
    }
}
