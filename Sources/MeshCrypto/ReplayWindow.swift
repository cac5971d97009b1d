/// Refuses sealed packets that are old, from the future, or already seen: the receiving half of replay protection.
///
/// A packet carries its sender's authenticated wall-clock time (see `Keyring`). The window admits a packet sealed
/// within `windowMillis` of the receiver's clock, either way, whose nonce it has not seen. Nonces of admitted
/// packets are remembered until their timestamp leaves the window, so a replay inside the window is caught by
/// the nonce and one outside it by the clock.
///
/// Memory is bounded by `capacity` nonces. Only packets that opened under the mesh key reach the window, so an
/// attacker without the key cannot fill it. When genuine traffic does fill it, the oldest nonce is forgotten and
/// `floorMillis` rises to its timestamp: from then on nothing sealed at or before the floor is admitted. Replay
/// protection therefore always holds; what shrinks under pressure is the window, for every sender.
///
/// A value type with no clock of its own: the caller passes `nowMillis`, so it is table-testable.
public struct ReplayWindow: Sendable {
    /// What `admit` decided.
    public enum Verdict: Sendable, Equatable {
        /// A new packet inside the window: its nonce is now remembered.
        case fresh
        /// Sealed more than the window ago, or not after the floor; with the packet's age (0 if it is not old but
        /// below the floor).
        case tooOld(ageMillis: UInt64)
        /// Sealed more than the window ahead of our clock; with how far ahead.
        case tooNew(aheadMillis: UInt64)
        /// A nonce seen before inside the window.
        case replayed
    }

    private struct NonceKey: Hashable {
        let a: UInt64, b: UInt64, c: UInt64
    }

    /// How far a packet's timestamp may be from the receiver's clock, either way.
    public let windowMillis: UInt64
    /// How many nonces are remembered at most.
    public let capacity: Int
    /// Packets sealed at or before this time are refused: it rises as nonces are forgotten.
    public private(set) var floorMillis: UInt64 = 0

    private var seen: Set<NonceKey> = []
    /// Remembered nonces in the order they were admitted (a ring of `capacity` slots).
    private var ring: [(key: NonceKey, sentAt: UInt64)?]
    private var head = 0

    /// The number of nonces remembered now.
    public var count: Int { seen.count }

    /// - Parameters:
    ///   - windowMillis: the accepted distance between a sender's clock and ours, either way.
    ///   - capacity: nonces remembered at most (at least 1).
    public init(windowMillis: UInt64, capacity: Int) {
        self.windowMillis = windowMillis
        self.capacity = max(1, capacity)
        self.ring = []
        self.seen.reserveCapacity(min(self.capacity, 4096))
    }

    /// Decides about a packet sealed at `sentAtMillis` with `nonce` (24 bytes; shorter ones are zero-padded),
    /// received at `nowMillis`, and remembers its nonce when it is admitted.
    public mutating func admit(nonce: [UInt8], sentAtMillis: UInt64, nowMillis: UInt64) -> Verdict {
        forgetExpired(nowMillis: nowMillis)
        if sentAtMillis > nowMillis, sentAtMillis - nowMillis > windowMillis {
            return .tooNew(aheadMillis: sentAtMillis - nowMillis)
        }
        if nowMillis > sentAtMillis, nowMillis - sentAtMillis > windowMillis {
            return .tooOld(ageMillis: nowMillis - sentAtMillis)
        }
        if sentAtMillis <= floorMillis {
            return .tooOld(ageMillis: nowMillis > sentAtMillis ? nowMillis - sentAtMillis : 0)
        }
        let key = Self.key(nonce)
        if seen.contains(key) { return .replayed }
        if seen.count >= capacity { forgetOldest() }
        seen.insert(key)
        if ring.count < capacity {
            ring.append((key, sentAtMillis))
        } else {
            ring[(head + seen.count - 1) % capacity] = (key, sentAtMillis)
        }
        return .fresh
    }

    /// Forgets nonces whose timestamps have left the window (oldest admitted first; a newer one admitted earlier
    /// stops the sweep until it expires too, which only keeps memory within the same bound).
    private mutating func forgetExpired(nowMillis: UInt64) {
        while let oldest = oldestEntry, nowMillis > oldest.sentAt, nowMillis - oldest.sentAt > windowMillis {
            forgetOldest()
        }
    }

    private var oldestEntry: (key: NonceKey, sentAt: UInt64)? {
        guard !seen.isEmpty else { return nil }
        return ring[head]
    }

    private mutating func forgetOldest() {
        guard let oldest = oldestEntry else { return }
        seen.remove(oldest.key)
        ring[head] = nil
        head = (head + 1) % capacity
        floorMillis = max(floorMillis, oldest.sentAt)
        if seen.isEmpty {
            // Keep the ring compact: the next nonce goes into slot 0 again.
            ring.removeAll(keepingCapacity: true)
            head = 0
        }
    }

    private static func key(_ nonce: [UInt8]) -> NonceKey {
        func word(_ from: Int) -> UInt64 {
            var v: UInt64 = 0
            for i in from..<(from + 8) { v = v << 8 | UInt64(i < nonce.count ? nonce[i] : 0) }
            return v
        }
        return NonceKey(a: word(0), b: word(8), c: word(16))
    }
}

/// Why a sealed packet was refused, with the counter reason for each case.
public enum SealRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    /// It did not open (short, unknown seal version, or no key in the ring fits).
    case crypto(CryptoError)
    /// Sealed too long ago (or not after the replay cache's floor).
    case stale(ageMillis: UInt64)
    /// Sealed too far ahead of our clock.
    case future(aheadMillis: UInt64)
    /// Its nonce was seen before.
    case replayed

    /// A short label for counters and metrics.
    public var reason: String {
        switch self {
        case .crypto(.sealedPacketTooShort): return "seal_too_short"
        case .crypto(.unsupportedSealVersion): return "seal_version"
        case .crypto: return "open_failed"
        case .stale: return "seal_stale"
        case .future: return "seal_future"
        case .replayed: return "replayed"
        }
    }

    /// What went wrong, as a sentence.
    public var description: String {
        switch self {
        case .crypto(let e): return e.description
        case .stale(let age):
            return "a packet sealed \(age) ms ago is outside the replay window (a replay, or a sender whose clock lags ours: check NTP)"
        case .future(let ahead):
            return "a packet sealed \(ahead) ms in the future is outside the replay window (a sender whose clock runs ahead of ours: check NTP)"
        case .replayed: return "a packet whose nonce was already seen was refused as a replay"
        }
    }
}
