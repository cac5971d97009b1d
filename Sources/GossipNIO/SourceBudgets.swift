import NIOCore

/// A datagram's source IP address as a small hashable key, made without formatting a string (the filter runs
/// for every datagram, at the highest rate the socket delivers).
///
/// The port is left out on purpose: one host sending from many ports is still one source.
struct SourceKey: Hashable, Sendable {
    let hi: UInt64
    let lo: UInt64

    init(hi: UInt64, lo: UInt64) {
        self.hi = hi
        self.lo = lo
    }

    /// The key of an IP socket address; nil for a Unix socket.
    init?(_ address: SocketAddress) {
        switch address {
        case .v4(let a):
            hi = 0xFFFF_FFFF_FFFF_FFFF
            lo = UInt64(UInt32(bigEndian: a.address.sin_addr.s_addr))
        case .v6(let a):
            var bytes = a.address.sin6_addr
            let (h, l) = withUnsafeBytes(of: &bytes) { raw -> (UInt64, UInt64) in
                (raw[0..<8].reduce(0) { $0 << 8 | UInt64($1) }, raw[8..<16].reduce(0) { $0 << 8 | UInt64($1) })
            }
            hi = h
            lo = l
        case .unixDomainSocket:
            return nil
        }
    }
}

/// Token buckets per source address in a table of bounded size: the per-source budget of the inbound filter.
///
/// Each source may send `ratePerSecond` datagrams a second on average and `burst` at once. The table holds at
/// most `capacity` sources, however many addresses an attacker uses: sources beyond it share one bucket of the
/// same rate, so a flood from many addresses costs the newcomers, not the members already in the table. A bucket
/// that has refilled completely is indistinguishable from a new one, so a sweep (at most once a second) removes
/// those, which keeps the table to the sources that are sending now.
///
/// Pure: time is passed in (nanoseconds on any monotonic clock), so it is tested without waiting.
struct SourceBudgets: Sendable {
    private struct Bucket: Sendable {
        var tokens: Double
        var updatedAt: Int64
    }

    /// Whether a datagram may pass, and if not which budget it exceeded.
    enum Verdict: Equatable, Sendable {
        case pass
        /// Its source's own bucket is empty.
        case overBudget
        /// The table is full and the bucket shared by the sources outside it is empty.
        case overSharedBudget
    }

    let ratePerSecond: Double
    let burst: Double
    let capacity: Int
    private var buckets: [SourceKey: Bucket] = [:]
    private var shared: Bucket
    private var lastSweep: Int64?

    /// The number of sources in the table now.
    var count: Int { buckets.count }

    init(ratePerSecond: Int, burst: Int, capacity: Int) {
        self.ratePerSecond = Double(max(1, ratePerSecond))
        self.burst = Double(max(1, burst))
        self.capacity = max(1, capacity)
        self.shared = Bucket(tokens: Double(max(1, burst)), updatedAt: 0)
    }

    /// Spends one token of `source`'s budget at `nowNanos`.
    mutating func spend(_ source: SourceKey, nowNanos: Int64) -> Verdict {
        if lastSweep.map({ nowNanos - $0 >= 1_000_000_000 }) ?? true { sweep(nowNanos: nowNanos) }
        if var bucket = buckets[source] {
            let ok = take(&bucket, nowNanos: nowNanos)
            buckets[source] = bucket
            return ok ? .pass : .overBudget
        }
        if buckets.count < capacity {
            buckets[source] = Bucket(tokens: burst - 1, updatedAt: nowNanos)
            return .pass
        }
        return take(&shared, nowNanos: nowNanos) ? .pass : .overSharedBudget
    }

    private func refilled(_ bucket: Bucket, nowNanos: Int64) -> Double {
        let elapsed = Double(max(0, nowNanos - bucket.updatedAt)) / 1e9
        return min(burst, bucket.tokens + elapsed * ratePerSecond)
    }

    private func take(_ bucket: inout Bucket, nowNanos: Int64) -> Bool {
        bucket.tokens = refilled(bucket, nowNanos: nowNanos)
        bucket.updatedAt = max(bucket.updatedAt, nowNanos)
        guard bucket.tokens >= 1 else { return false }
        bucket.tokens -= 1
        return true
    }

    private mutating func sweep(nowNanos: Int64) {
        lastSweep = nowNanos
        buckets = buckets.filter { refilled($0.value, nowNanos: nowNanos) < burst }
    }
}
