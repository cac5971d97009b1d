import CSodium

/// Makes sure `sodium_init` has run exactly once before any libsodium call.
///
/// `sodium_init` is itself idempotent and thread-safe; the lazy global only spares the call on hot paths.
enum Sodium {
    static let ready: Bool = sodium_init() >= 0

    @inline(__always)
    static func ensure() {
        precondition(ready, "libsodium failed to initialise")
    }
}

/// Cryptographic failures, each phrased so that a person can act on it.
public enum CryptoError: Error, Equatable, CustomStringConvertible {
    case badKeyLength(expected: Int, got: Int)
    case badSignatureLength(Int)
    case sealedPacketTooShort(Int)
    case unsupportedSealVersion(UInt8)
    case noKeyOpens
    case emptyKeyring

    public var description: String {
        switch self {
        case .badKeyLength(let expected, let got):
            return "a key must be \(expected) bytes, this one is \(got)"
        case .badSignatureLength(let n):
            return "an Ed25519 signature is 64 bytes, this one is \(n)"
        case .sealedPacketTooShort(let n):
            return "a sealed packet of \(n) bytes is shorter than its header and tag"
        case .unsupportedSealVersion(let v):
            return "sealed packet version \(v) is not one this build understands"
        case .noKeyOpens:
            return "no key in the mesh keyring opens this packet (unknown key, wrong mesh name or tampered bytes)"
        case .emptyKeyring:
            return "the mesh keyring holds no key"
        }
    }
}

/// Fills `count` bytes from libsodium's CSPRNG.
public func secureRandomBytes(_ count: Int) -> [UInt8] {
    Sodium.ensure()
    var out = [UInt8](repeating: 0, count: count)
    out.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, count) }
    return out
}
