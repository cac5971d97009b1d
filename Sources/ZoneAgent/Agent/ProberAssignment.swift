/// Decides which agents of a cluster probe which endpoint: rendezvous (highest-random-weight) hashing over the
/// cluster's live members. Every agent computes the same answer from the same membership, without talking, and
/// when a member dies only the endpoints it watched move, each to the next-highest scorer.
enum ProberAssignment {
    /// The `replicas` members (by name) that probe `endpoint`, best score first.
    static func probers(of endpoint: String, among members: [String], replicas: Int) -> [String] {
        let keyHash = fnv1a(endpoint)
        return members
            .map { (name: $0, score: mix(fnv1a($0) ^ keyHash &* 0x9E37_79B9_7F4A_7C15)) }
            .sorted { ($0.score, $0.name) > ($1.score, $1.name) }
            .prefix(replicas)
            .map(\.name)
    }

    /// Whether `member` is among the probers of `endpoint`.
    static func isProber(_ member: String, of endpoint: String, among members: [String], replicas: Int) -> Bool {
        probers(of: endpoint, among: members, replicas: replicas).contains(member)
    }

    /// FNV-1a 64: stable across processes and builds, unlike `Hasher`, which is seeded per process.
    static func fnv1a(_ text: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            h ^= UInt64(byte)
            h = h &* 0x0000_0100_0000_01B3
        }
        return h
    }

    /// SplitMix64's finaliser: spreads FNV's weak low bits so scores are uniform.
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
