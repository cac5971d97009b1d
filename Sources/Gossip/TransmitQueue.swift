import Wire

/// Updates waiting to be piggybacked, each sent a limited number of times (memberlist's `TransmitLimitedQueue`).
///
/// An update has a key (the member or digest origin it is about); queueing a newer update with the same key drops
/// the older one, so stale state is never sent after fresher state. Selection takes the least-sent updates first
/// and, among those, the newest.
///
/// Kept in that order at all times, as memberlist keeps its btree: one bucket per transmit count, each sorted
/// oldest first and walked from its end, so that taking a datagram's worth walks only what it takes, and the
/// newest update (the common insertion) is appended rather than shifting the whole bucket. (Sorting the whole queue
/// on every datagram cost most of a member's time while a cluster of a thousand failed; inserting at the front,
/// a copy of the bucket for every update while a cluster of 1,250 did.)
struct TransmitQueue: Sendable {
    struct Entry: Sendable {
        var key: String
        var message: GossipMessage
        var size: Int
        var transmits: Int
        var serial: UInt64
    }

    /// `buckets[t]`: the entries sent `t` times, oldest (lowest serial) first.
    private var buckets: [[Entry]] = []
    /// Where each key's entry is: its transmit count and serial.
    private var index: [String: (transmits: Int, serial: UInt64)] = [:]
    private var nextSerial: UInt64 = 0
    /// No entry was ever smaller: once less room than this is left, nothing more fits.
    private var smallest = Int.max
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    var isEmpty: Bool { index.isEmpty }
    var count: Int { index.count }

    /// Every entry, oldest first (for tests and inspection).
    var entries: [Entry] { buckets.flatMap { $0 }.sorted { $0.serial < $1.serial } }

    /// Queues `message` about `key`, replacing whatever was queued about the same key.
    mutating func enqueue(_ message: GossipMessage, key: String, size: Int) {
        remove(key: key)
        nextSerial += 1
        smallest = min(smallest, size)
        if buckets.isEmpty { buckets.append([]) }
        // The newest of all: last in the bucket of the unsent.
        buckets[0].append(Entry(key: key, message: message, size: size, transmits: 0, serial: nextSerial))
        index[key] = (0, nextSerial)
        if index.count > capacity, let t = buckets.lastIndex(where: { !$0.isEmpty }) {
            // Drop the most-sent (then oldest) entry: it has had the most chances already.
            let victim = buckets[t].removeFirst()
            index[victim.key] = nil
        }
    }

    /// Removes what is queued about `key`.
    mutating func remove(key: String) {
        guard let at = index.removeValue(forKey: key) else { return }
        if let i = position(of: at.serial, in: buckets[at.transmits]) { buckets[at.transmits].remove(at: i) }
        releaseIfEmpty(at.transmits)
    }

    /// Gives an emptied bucket's room back. Every update passes through every bucket, so each would otherwise keep
    /// room for the most updates it ever held: after a cluster of 1,250 failed, 20 buckets × 1,250 entries a
    /// member, most of the simulation's memory.
    private mutating func releaseIfEmpty(_ t: Int) {
        if buckets[t].isEmpty, buckets[t].capacity > 16 { buckets[t] = [] }
    }

    /// The place of `serial` in a bucket sorted by ascending serial, or where it would go.
    private func insertionPoint(of serial: UInt64, in bucket: [Entry]) -> Int {
        var low = 0, high = bucket.count
        while low < high {
            let mid = (low + high) / 2
            if bucket[mid].serial < serial { low = mid + 1 } else { high = mid }
        }
        return low
    }

    private func position(of serial: UInt64, in bucket: [Entry]) -> Int? {
        let i = insertionPoint(of: serial, in: bucket)
        return i < bucket.count && bucket[i].serial == serial ? i : nil
    }

    /// Takes updates fitting in `budget` bytes, least-sent and newest first, counting one transmission for each and
    /// dropping those that reached `limit`. Returns the messages and the bytes they take.
    mutating func take(budget: Int, limit: Int) -> (messages: [GossipMessage], bytes: Int) {
        guard !index.isEmpty, budget > 0 else { return ([], 0) }
        var remaining = budget
        var chosen: [(bucket: Int, slot: Int)] = []
        scan: for t in buckets.indices {
            for i in buckets[t].indices.reversed() where buckets[t][i].size <= remaining {
                chosen.append((t, i))
                remaining -= buckets[t][i].size
                if remaining < 16 || remaining < smallest { break scan }
            }
        }
        guard !chosen.isEmpty else { return ([], 0) }
        var messages: [GossipMessage] = []
        messages.reserveCapacity(chosen.count)
        var moved: [Entry] = []
        moved.reserveCapacity(chosen.count)
        for (t, i) in chosen { messages.append(buckets[t][i].message) }
        // Take the chosen out in the order chosen: within a bucket from its end, so that the slots still to go stay
        // valid.
        var expired = false
        for (t, i) in chosen {
            var e = buckets[t].remove(at: i)
            e.transmits += 1
            if e.transmits >= limit {
                index[e.key] = nil
                expired = true
            } else {
                index[e.key] = (e.transmits, e.serial)
                moved.append(e)
            }
        }
        for (t, _) in chosen where t < buckets.count { releaseIfEmpty(t) }
        if expired, buckets.count > limit {
            // The limit fell (the mesh shrank): what was sent that often already goes too.
            for bucket in buckets[max(0, limit)...] { for e in bucket { index[e.key] = nil } }
            buckets.removeSubrange(max(0, limit)...)
        }
        // Oldest first, so that each usually lands at its bucket's end.
        for e in moved.reversed() {
            if buckets.count <= e.transmits { buckets.append(contentsOf: repeatElement([], count: e.transmits + 1 - buckets.count)) }
            buckets[e.transmits].insert(e, at: insertionPoint(of: e.serial, in: buckets[e.transmits]))
        }
        return (messages, budget - remaining)
    }
}
