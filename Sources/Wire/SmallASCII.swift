/// Short ASCII strings made straight from a packet's bytes, as the two words a small `String` is.
///
/// Why: nearly every string in a datagram is a name, a cluster, a zone or an address of at most 15 ASCII bytes, which
/// Swift keeps inline in the `String` value itself (no allocation). The public initialisers still cost ~90
/// instructions each to get there (a closure, a capacity check, a scan for ASCII); a full datagram makes about 40,
/// an eighth of its decoding (callgrind, `Benchmarks wire-decode`). Here it is two loads, a mask and a flag.
///
/// The layout relied on is the standard library's for 64-bit little-endian platforms: the UTF-8 bytes in order, the
/// unused ones zero, and in the last byte the count with the flags immortal, ASCII and small (`0xE0 | count`). It is
/// not API, so it is checked once, against strings the standard library makes, before it is used: where it ever
/// differs, `string` answers nil and the reader makes the string the public way.
enum SmallASCII {
    /// The string of `count` (1...15) bytes at `offset` of `bytes`, if they are all ASCII. Only where `layoutHolds`.
    @inline(__always)
    static func string(_ bytes: UnsafeRawBufferPointer, at offset: Int, count: Int) -> String? {
        #if _endian(little) && _pointerBitWidth(_64)
        guard count > 0, count <= 15, let base = bytes.baseAddress else { return nil }
        var low: UInt64, high: UInt64
        if offset + 16 <= bytes.count {
            low = base.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            high = base.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)
        } else {
            (low, high) = wordsNearEnd(base + offset, count: count)
        }
        if count < 8 {
            low &= (1 &<< UInt64(count &* 8)) &- 1
            high = 0
        } else {
            high &= (1 &<< UInt64((count &- 8) &* 8)) &- 1
        }
        guard (low | high) & 0x8080_8080_8080_8080 == 0 else { return nil }
        var words = (low, high | (0xE0 | UInt64(count)) &<< 56)
        // Moved out of the words rather than bit-cast: a bit-cast `String` is a borrowed value that the compiler
        // then retains (a runtime call per string, though a small one has nothing to count); moving it out owns it.
        return withUnsafeMutablePointer(to: &words) { $0.withMemoryRebound(to: String.self, capacity: 1) { $0.move() } }
        #else
        return nil
        #endif
    }

    /// The `count` bytes at `start` in two words, zero after them: near the end of the packet, where two whole words
    /// would read past it. Out of line, so that the usual path has no buffer on its stack to guard.
    @inline(never)
    private static func wordsNearEnd(_ start: UnsafeRawPointer, count: Int) -> (UInt64, UInt64) {
        var words: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &words) { $0.copyMemory(from: UnsafeRawBufferPointer(start: start, count: count)) }
        return words
    }

    /// Whether strings made here are bit for bit the ones the standard library makes, for every length: checked once.
    static let layoutHolds: Bool = {
        #if _endian(little) && _pointerBitWidth(_64)
        guard MemoryLayout<String>.size == 16 else { return false }
        let sample = Array("0123456789abcde".utf8)
        for count in 1...15 {
            let expected = String(decoding: sample[..<count], as: UTF8.self)
            let words = unsafeBitCast(expected, to: (UInt64, UInt64).self)
            var low: UInt64 = 0, high: UInt64 = 0
            for (i, byte) in sample[..<count].enumerated() {
                if i < 8 { low |= UInt64(byte) << (8 * UInt64(i)) } else { high |= UInt64(byte) << (8 * UInt64(i - 8)) }
            }
            guard words == (low, high | (0xE0 | UInt64(count)) << 56) else { return false }
        }
        return true
        #else
        return false
        #endif
    }()
}
