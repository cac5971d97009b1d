import CSodium

/// A 32-byte XChaCha20-Poly1305 key shared by every member of one mesh.
public struct MeshKey: Hashable, Sendable {
    public static let byteCount = 32
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) throws {
        guard bytes.count == Self.byteCount else {
            throw CryptoError.badKeyLength(expected: Self.byteCount, got: bytes.count)
        }
        self.bytes = bytes
    }

    public static func generate() -> MeshKey { try! MeshKey(bytes: secureRandomBytes(byteCount)) }

    public init?(base64: String) {
        guard let raw = Base64.decode(base64.trimmingWhitespace()), let key = try? MeshKey(bytes: raw) else { return nil }
        self = key
    }

    public var base64: String { Base64.encode(bytes) }
}

/// Seals and opens gossip packets.
///
/// Layout of a sealed packet: `version (1) | nonce (24) | ciphertext | tag (16)`. The associated data is the
/// version byte followed by the mesh name, so a packet from a neighbouring mesh with the same key still fails
/// to open. Sending always uses the primary key; receiving tries every key in the ring, which is how keys
/// rotate without downtime: add the new key everywhere, make it primary everywhere, then drop the old one.
public struct Keyring: Sendable {
    public static let sealVersion: UInt8 = 1
    public static let nonceByteCount = Int(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
    public static let tagByteCount = Int(crypto_aead_xchacha20poly1305_ietf_ABYTES)
    /// Bytes a sealed packet adds to its plaintext.
    public static let overhead = 1 + nonceByteCount + tagByteCount

    public let primary: MeshKey
    public let keys: [MeshKey]
    public let meshName: String
    private let associatedData: [UInt8]

    /// - Parameters:
    ///   - primary: the key used to seal outgoing packets; always also accepted.
    ///   - accepted: further keys accepted on receive (old or upcoming keys during a rotation).
    public init(primary: MeshKey, accepted: [MeshKey] = [], meshName: String) {
        Sodium.ensure()
        self.primary = primary
        var ring = [primary]
        for key in accepted where !ring.contains(key) { ring.append(key) }
        self.keys = ring
        self.meshName = meshName
        self.associatedData = [Self.sealVersion] + Array(meshName.utf8)
    }

    /// Seals `plaintext` under the primary key with a fresh random nonce.
    public func seal(_ plaintext: [UInt8]) -> [UInt8] {
        seal(plaintext, nonce: secureRandomBytes(Self.nonceByteCount))
    }

    /// Seals with a caller-chosen nonce. A nonce must never repeat under one key; 24 random bytes make that safe.
    public func seal(_ plaintext: [UInt8], nonce: [UInt8]) -> [UInt8] {
        precondition(nonce.count == Self.nonceByteCount)
        var out = [UInt8](repeating: 0, count: Self.overhead + plaintext.count)
        out[0] = Self.sealVersion
        out.replaceSubrange(1...Self.nonceByteCount, with: nonce)
        var written: UInt64 = 0
        out.withUnsafeMutableBufferPointer { buf in
            let cipher = buf.baseAddress! + 1 + Self.nonceByteCount
            _ = crypto_aead_xchacha20poly1305_ietf_encrypt(
                cipher, &written, plaintext, UInt64(plaintext.count),
                associatedData, UInt64(associatedData.count), nil, nonce, primary.bytes)
        }
        return out
    }

    /// Opens a sealed packet with whichever ring key fits.
    public func open(_ sealed: [UInt8]) throws(CryptoError) -> [UInt8] {
        guard sealed.count >= Self.overhead else { throw .sealedPacketTooShort(sealed.count) }
        guard sealed[0] == Self.sealVersion else { throw .unsupportedSealVersion(sealed[0]) }
        let nonce = Array(sealed[1...Self.nonceByteCount])
        let cipher = sealed[(1 + Self.nonceByteCount)...]
        var plain = [UInt8](repeating: 0, count: cipher.count - Self.tagByteCount)
        var written: UInt64 = 0
        for key in keys {
            let ok = cipher.withUnsafeBufferPointer { c in
                crypto_aead_xchacha20poly1305_ietf_decrypt(
                    &plain, &written, nil, c.baseAddress!, UInt64(c.count),
                    associatedData, UInt64(associatedData.count), nonce, key.bytes) == 0
            }
            if ok { return plain }
        }
        throw .noKeyOpens
    }
}
