import CSodium

/// An Ed25519 public key: 32 bytes.
public struct PublicKey: Hashable, Sendable, CustomStringConvertible {
    public static let byteCount = 32
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) throws {
        guard bytes.count == Self.byteCount else {
            throw CryptoError.badKeyLength(expected: Self.byteCount, got: bytes.count)
        }
        self.bytes = bytes
    }

    /// Parses the base64 form used in `trust.yaml` and in `.pub` files.
    public init?(base64: String) {
        guard let raw = Base64.decode(base64.trimmingWhitespace()), let key = try? PublicKey(bytes: raw) else { return nil }
        self = key
    }

    public var base64: String { Base64.encode(bytes) }

    /// A short, stable name for the key that travels with every signature so the verifier need not try them all:
    /// the first 8 bytes of BLAKE2b(public key).
    public var keyID: KeyID { KeyID(prefixOf: ContentHash.blake2b(bytes, outputLength: 8)) }

    public var description: String { base64 }
}

/// The 8-byte key identifier carried beside a signature.
public struct KeyID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    init(prefixOf bytes: [UInt8]) {
        var v: UInt64 = 0
        for b in bytes.prefix(8) { v = v << 8 | UInt64(b) }
        self.rawValue = v
    }
    public var description: String {
        let hex = String(rawValue, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

/// Something that signs on behalf of one cluster. Tests may substitute a fake.
public protocol MessageSigner: Sendable {
    var keyID: KeyID { get }
    /// A signature of at most 64 bytes (Ed25519's length): records keep their signatures inline.
    func sign(_ message: [UInt8]) -> [UInt8]
}

/// Something that checks a signature made by a given public key. Tests may substitute a fake.
public protocol SignatureVerifier: Sendable {
    func isValid(signature: [UInt8], of message: [UInt8], by key: PublicKey) -> Bool
}

/// An Ed25519 key pair (libsodium's `crypto_sign`). The secret key is 64 bytes: seed followed by public key.
public struct SigningKeyPair: MessageSigner {
    public static let secretByteCount = 64
    public static let seedByteCount = 32
    public let publicKey: PublicKey
    private let secret: [UInt8]

    /// A fresh key pair from the system CSPRNG.
    public static func generate() -> SigningKeyPair {
        Sodium.ensure()
        var pk = [UInt8](repeating: 0, count: PublicKey.byteCount)
        var sk = [UInt8](repeating: 0, count: secretByteCount)
        _ = crypto_sign_keypair(&pk, &sk)
        return SigningKeyPair(publicKey: try! PublicKey(bytes: pk), secret: sk)
    }

    /// Rebuilds a key pair from its 32-byte seed (deterministic; used by tests and by the key file loader).
    public init(seed: [UInt8]) throws {
        guard seed.count == Self.seedByteCount else {
            throw CryptoError.badKeyLength(expected: Self.seedByteCount, got: seed.count)
        }
        Sodium.ensure()
        var pk = [UInt8](repeating: 0, count: PublicKey.byteCount)
        var sk = [UInt8](repeating: 0, count: Self.secretByteCount)
        _ = crypto_sign_seed_keypair(&pk, &sk, seed)
        self.init(publicKey: try PublicKey(bytes: pk), secret: sk)
    }

    private init(publicKey: PublicKey, secret: [UInt8]) {
        self.publicKey = publicKey
        self.secret = secret
    }

    /// The 32-byte seed, which is what a key file stores.
    public var seed: [UInt8] { Array(secret.prefix(Self.seedByteCount)) }

    public var keyID: KeyID { publicKey.keyID }

    public func sign(_ message: [UInt8]) -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: Int(crypto_sign_BYTES))
        _ = crypto_sign_detached(&signature, nil, message, UInt64(message.count), secret)
        return signature
    }
}

/// The libsodium Ed25519 verifier.
public struct Ed25519Verifier: SignatureVerifier {
    public init() { Sodium.ensure() }

    public func isValid(signature: [UInt8], of message: [UInt8], by key: PublicKey) -> Bool {
        guard signature.count == Int(crypto_sign_BYTES) else { return false }
        return crypto_sign_verify_detached(signature, message, UInt64(message.count), key.bytes) == 0
    }
}
