import CSodium

/// BLAKE2b content hashes (libsodium's `crypto_generichash`).
public enum ContentHash {
    /// Hashes `bytes` to `outputLength` bytes (16...64).
    public static func blake2b(_ bytes: [UInt8], outputLength: Int = 32) -> [UInt8] {
        Sodium.ensure()
        precondition((Int(crypto_generichash_BYTES_MIN)...Int(crypto_generichash_BYTES_MAX)).contains(outputLength) || outputLength == 8,
                     "BLAKE2b output length out of range")
        // libsodium's minimum output is 16 bytes; shorter digests are prefixes of a 16-byte one.
        let length = max(outputLength, Int(crypto_generichash_BYTES_MIN))
        var out = [UInt8](repeating: 0, count: length)
        _ = crypto_generichash(&out, length, bytes, UInt64(bytes.count), nil, 0)
        return Array(out.prefix(outputLength))
    }

    /// Lower-case hex of a BLAKE2b-256 hash, for table hashes and logs.
    public static func hex(_ bytes: [UInt8], outputLength: Int = 32) -> String {
        blake2b(bytes, outputLength: outputLength).map { b in
            let s = String(b, radix: 16)
            return b < 16 ? "0" + s : s
        }.joined()
    }
}
