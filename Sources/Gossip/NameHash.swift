/// A fixed 64-bit hash of a member name, the same in every process and run (Swift's `Hasher` is seeded per
/// process): a 64-bit FNV-1a of the UTF-8 bytes, finished with SplitMix64's mixer so that names that differ in
/// their last character land far apart. Not collision-resistant: used where a collision costs order or time, never
/// correctness (the probe ring's order, the accusers of a suspicion).
enum NameHash {
    static func of(_ name: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in name.utf8 {
            h ^= UInt64(byte)
            h = h &* 0x100_0000_01B3
        }
        h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
        h = (h ^ (h >> 27)) &* 0x94D0_49BB_1331_11EB
        return h ^ (h >> 31)
    }
}
