import Wire

/// Updates waiting to be piggybacked, each sent a limited number of times (memberlist's `TransmitLimitedQueue`).
///
/// An update has a key (the member or digest origin it is about); queueing a newer update with the same key drops
/// the older one, so stale state is never sent after fresher state. Selection takes the least-sent updates first
/// and, among those, the newest.
struct TransmitQueue: Sendable {
    struct Entry: Sendable {
        var key: String
        var message: GossipMessage
        var size: Int
        var transmits: Int
        var serial: UInt64
    }

    private(set) var entries: [Entry] = []
    private var nextSerial: UInt64 = 0
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    var isEmpty: Bool { entries.isEmpty }
    var count: Int { entries.count }

    /// Queues `message` about `key`, replacing whatever was queued about the same key.
    mutating func enqueue(_ message: GossipMessage, key: String, size: Int) {
        entries.removeAll { $0.key == key }
        nextSerial += 1
        entries.append(Entry(key: key, message: message, size: size, transmits: 0, serial: nextSerial))
        if entries.count > capacity {
            // Drop the most-sent (then oldest) entry: it has had the most chances already.
            if let victim = entries.indices.max(by: { a, b in
                (entries[a].transmits, entries[b].serial) < (entries[b].transmits, entries[a].serial)
            }) {
                entries.remove(at: victim)
            }
        }
    }

    /// Removes what is queued about `key`.
    mutating func remove(key: String) {
        entries.removeAll { $0.key == key }
    }

    /// Takes updates fitting in `budget` bytes, least-sent and newest first, counting one transmission for each and
    /// dropping those that reached `limit`. Returns the messages and the bytes they take.
    mutating func take(budget: Int, limit: Int) -> (messages: [GossipMessage], bytes: Int) {
        guard !entries.isEmpty, budget > 0 else { return ([], 0) }
        let order = entries.indices.sorted { a, b in
            let x = entries[a], y = entries[b]
            return x.transmits != y.transmits ? x.transmits < y.transmits : x.serial > y.serial
        }
        var remaining = budget
        var chosen: [Int] = []
        for i in order where entries[i].size <= remaining {
            chosen.append(i)
            remaining -= entries[i].size
            if remaining < 16 { break }
        }
        guard !chosen.isEmpty else { return ([], 0) }
        var messages: [GossipMessage] = []
        messages.reserveCapacity(chosen.count)
        var expired = false
        for i in chosen {
            messages.append(entries[i].message)
            entries[i].transmits += 1
            if entries[i].transmits >= limit { expired = true }
        }
        if expired { entries.removeAll { $0.transmits >= limit } }
        return (messages, budget - remaining)
    }
}
