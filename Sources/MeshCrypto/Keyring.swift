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

/// A sealed packet once opened: its plaintext, when its sender sealed it, and its nonce (the replay cache's key).
public struct OpenedSeal: Sendable, Equatable {
    /// The packet's plaintext.
    public let plaintext: [UInt8]
    /// The sender's wall clock when it sealed the packet, in milliseconds since the Unix epoch (authenticated).
    public let sentAtMillis: UInt64
    /// The packet's 24-byte nonce.
    public let nonce: [UInt8]
}

/// Seals and opens gossip packets.
///
/// Layout of a sealed packet (seal version 2): `version (1) | nonce (24) | AEAD(sent-at ms, u64 BE (8) ‖ plaintext)
/// | tag (16)`. The associated data is the version byte followed by the mesh name, so a packet from a neighbouring
/// mesh with the same key still fails to open. The sender's timestamp sits inside the ciphertext, so it is
/// authenticated: a receiver refuses a packet sealed too long ago or too far ahead, and one whose nonce it has
/// already seen (see `ReplayWindow`). Version 1 (no timestamp) is refused: accepting it would let anyone replay a
/// captured packet for ever.
///
/// Sending always uses the primary key; receiving tries every key in the ring, which is how keys rotate without
/// downtime: add the new key everywhere, make it primary everywhere, then drop the old one.
///
/// The ring is a pure function of its inputs (keys, mesh name, the time passed in, the nonce): only the
/// convenience `seal(_:sentAtMillis:)` draws a random nonce.
public struct Keyring: Sendable {
    public static let sealVersion: UInt8 = 2
    public static let nonceByteCount = Int(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
    public static let tagByteCount = Int(crypto_aead_xchacha20poly1305_ietf_ABYTES)
    /// The sealed timestamp: u64 milliseconds since the Unix epoch.
    public static let timestampByteCount = 8
    /// Bytes a sealed packet adds to its plaintext.
    public static let overhead = 1 + nonceByteCount + timestampByteCount + tagByteCount

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

    /// Seals `plaintext` under the primary key with a fresh random nonce, stamped `sentAtMillis`.
    public func seal(_ plaintext: [UInt8], sentAtMillis: UInt64) -> [UInt8] {
        seal(plaintext, sentAtMillis: sentAtMillis, nonce: secureRandomBytes(Self.nonceByteCount))
    }

    /// Seals with a caller-chosen nonce. A nonce must never repeat under one key; 24 random bytes make that safe.
    public func seal(_ plaintext: [UInt8], sentAtMillis: UInt64, nonce: [UInt8]) -> [UInt8] {
        precondition(nonce.count == Self.nonceByteCount)
        var message = [UInt8](repeating: 0, count: Self.timestampByteCount + plaintext.count)
        for i in 0..<Self.timestampByteCount { message[i] = UInt8(truncatingIfNeeded: sentAtMillis >> (56 - 8 * UInt64(i))) }
        message.replaceSubrange(Self.timestampByteCount..., with: plaintext)
        var out = [UInt8](repeating: 0, count: Self.overhead + plaintext.count)
        out[0] = Self.sealVersion
        out.replaceSubrange(1...Self.nonceByteCount, with: nonce)
        var written: UInt64 = 0
        out.withUnsafeMutableBufferPointer { buf in
            let cipher = buf.baseAddress! + 1 + Self.nonceByteCount
            _ = crypto_aead_xchacha20poly1305_ietf_encrypt(
                cipher, &written, message, UInt64(message.count),
                associatedData, UInt64(associatedData.count), nil, nonce, primary.bytes)
        }
        return out
    }

    /// Opens a sealed packet with whichever ring key fits: authenticity only, no freshness check (see
    /// `open(_:nowMillis:window:)`, which the transport uses).
    public func open(_ sealed: [UInt8]) throws(CryptoError) -> OpenedSeal {
        guard sealed.count >= Self.overhead else { throw .sealedPacketTooShort(sealed.count) }
        guard sealed[0] == Self.sealVersion else { throw .unsupportedSealVersion(sealed[0]) }
        let nonce = Array(sealed[1...Self.nonceByteCount])
        var message = [UInt8](repeating: 0, count: sealed.count - 1 - Self.nonceByteCount - Self.tagByteCount)
        var written: UInt64 = 0
        let opened = sealed.withUnsafeBufferPointer { all -> Bool in
            let cipher = all.baseAddress! + 1 + Self.nonceByteCount
            let length = UInt64(all.count - 1 - Self.nonceByteCount)
            for key in keys {
                if crypto_aead_xchacha20poly1305_ietf_decrypt(
                    &message, &written, nil, cipher, length, associatedData, UInt64(associatedData.count), nonce, key.bytes) == 0 {
                    return true
                }
            }
            return false
        }
        guard opened else { throw .noKeyOpens }
        let sentAt = message[0..<Self.timestampByteCount].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return OpenedSeal(plaintext: Array(message[Self.timestampByteCount...]), sentAtMillis: sentAt, nonce: nonce)
    }

    /// Opens a sealed packet and admits it through `window`: refused when no key opens it, when it was sealed
    /// outside the window around `nowMillis`, or when its nonce was seen before.
    public func open(_ sealed: [UInt8], nowMillis: UInt64, window: inout ReplayWindow) throws(SealRefusal) -> [UInt8] {
        let opened: OpenedSeal
        do { opened = try open(sealed) } catch { throw .crypto(error) }
        switch window.admit(nonce: opened.nonce, sentAtMillis: opened.sentAtMillis, nowMillis: nowMillis) {
        case .fresh: return opened.plaintext
        case .tooOld(let age): throw .stale(ageMillis: age)
        case .tooNew(let ahead): throw .future(aheadMillis: ahead)
        case .replayed: throw .replayed
        }
    }
}
