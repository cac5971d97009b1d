import Wire

/// Source addresses whose packets no key in the ring opens, with a count each: the mesh's view of a member that
/// was given another mesh key or mesh name.
///
/// Bounded: at most `capacity` addresses are tracked; packets from further addresses are counted together under
/// `untracked`. `record` says when an address deserves a log line: the first time, and then at most once per
/// `logInterval`, so that a misconfigured member is named in the log without flooding it.
struct UndecryptableSources: Sendable {
    struct Entry: Sendable, Equatable {
        var packets: UInt64
        var lastLogged: ContinuousClock.Instant
    }

    let capacity: Int
    let logInterval: Duration
    private(set) var entries: [PeerAddress: Entry] = [:]
    /// Packets from addresses beyond the table's capacity.
    private(set) var untracked: UInt64 = 0

    init(capacity: Int, logInterval: Duration) {
        self.capacity = max(1, capacity)
        self.logInterval = logInterval
    }

    /// Counts a packet from `address` that no key opened; returns the count to log, or nil when it is not time to.
    mutating func record(_ address: PeerAddress, now: ContinuousClock.Instant) -> UInt64? {
        if var entry = entries[address] {
            entry.packets += 1
            let due = now - entry.lastLogged >= logInterval
            if due { entry.lastLogged = now }
            entries[address] = entry
            return due ? entry.packets : nil
        }
        guard entries.count < capacity else {
            untracked += 1
            return nil
        }
        entries[address] = Entry(packets: 1, lastLogged: now)
        return 1
    }

    /// The counts by address, most packets first.
    var counts: [(address: PeerAddress, packets: UInt64)] {
        entries.map { ($0.key, $0.value.packets) }.sorted { ($0.packets, $1.address) > ($1.packets, $0.address) }
    }
}
