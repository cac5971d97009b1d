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
///
/// The entries themselves stay put in a slab (a freed place is reused); the buckets hold 16-byte references to
/// them. Moving whole entries (about 100 bytes, a message among them) between buckets that each kept the room of
/// their fullest moment was most of a simulated mesh's memory while a cluster of 1,250 failed, and every
/// replacement shifted a bucket of them.
struct TransmitQueue: Sendable {
    struct Entry: Sendable {
        var key: String
        var message: GossipMessage
        var serial: UInt64
        // 4 bytes each (a datagram's size, a retransmit limit): every survivor of a cluster of 1,250 killed at once
        // queues news of each.
        private var size32: Int32
        private var transmits32: Int32

        init(key: String, message: GossipMessage, size: Int, transmits: Int, serial: UInt64) {
            self.key = key
            self.message = message
            self.serial = serial
            size32 = Int32(clamping: size)
            transmits32 = Int32(clamping: transmits)
        }

        var size: Int { Int(size32) }
        var transmits: Int {
            get { Int(transmits32) }
            set { transmits32 = Int32(clamping: newValue) }
        }
    }

    /// A bucket's reference to an entry: the serial it is ordered by, and its place in the slab.
    private struct Ref {
        var serial: UInt64
        var place: Int32
    }

    /// Every entry queued, at a fixed place; nil where one was freed (listed in `free`).
    private var slab: [Entry?] = []
    private var free: [Int32] = []
    /// `buckets[t]`: the entries sent `t` times, oldest (lowest serial) first.
    private var buckets: [[Ref]] = []
    /// Where each key's entry is in the slab: its place, found by comparing the key with the entry's (a dictionary
    /// kept a copy of every key beside it).
    private var index = SlotIndex()
    private var nextSerial: UInt64 = 0
    /// No entry was ever smaller: once less room than this is left, nothing more fits.
    private var smallest = Int.max
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    var isEmpty: Bool { index.count == 0 }
    var count: Int { index.count }

    /// Every entry, oldest first (for tests and inspection).
    var entries: [Entry] { slab.compactMap { $0 }.sorted { $0.serial < $1.serial } }

    /// Queues `message` about `key`, replacing whatever was queued about the same key.
    mutating func enqueue(_ message: GossipMessage, key: String, size: Int) {
        remove(key: key)
        nextSerial += 1
        smallest = min(smallest, size)
        if buckets.isEmpty { buckets.append([]) }
        let place = store(Entry(key: key, message: message, size: size, transmits: 0, serial: nextSerial))
        // The newest of all: last in the bucket of the unsent.
        buckets[0].append(Ref(serial: nextSerial, place: place))
        do {
            // The index hashes the keys as it grows: it reads a reference to the slab, given up before it changes.
            let held = slab
            index.insert(place, hash: Self.hash(key)) { Self.hash(held[Int($0)]!.key) }
        }
        if index.count > capacity, let t = buckets.lastIndex(where: { !$0.isEmpty }) {
            // Drop the most-sent (then oldest) entry: it has had the most chances already.
            let victim = buckets[t].removeFirst()
            release(victim.place)
            releaseIfEmpty(t)
        }
    }

    /// Removes what is queued about `key`.
    mutating func remove(key: String) {
        guard let place = place(of: key), let entry = release(place) else { return }
        if let i = position(of: entry.serial, in: buckets[entry.transmits]) { buckets[entry.transmits].remove(at: i) }
        releaseIfEmpty(entry.transmits)
    }

    /// `NameHash` of a key (a member's name, or a digest origin's): every one came in a signed record or digest.
    private static func hash(_ key: String) -> Int { Int(truncatingIfNeeded: NameHash.of(key)) }

    /// The place of `key`'s entry, if one is queued.
    private func place(of key: String) -> Int32? {
        index.find(hash: Self.hash(key)) { slab[Int($0)]?.key == key }
    }

    private mutating func store(_ entry: Entry) -> Int32 {
        if let place = free.popLast() {
            slab[Int(place)] = entry
            return place
        }
        slab.appendGrowingByAQuarter(entry)
        return Int32(slab.count - 1)
    }

    /// Frees the place and forgets its key; returns what it held. The room is given back when the queue has emptied.
    @discardableResult
    private mutating func release(_ place: Int32) -> Entry? {
        guard let entry = slab[Int(place)].take() else { return nil }
        do {
            let held = slab
            index.remove(place, hash: Self.hash(entry.key)) { Self.hash(held[Int($0)]!.key) }
        }
        free.append(place)
        if free.count == slab.count {
            slab.removeAll(keepingCapacity: slab.capacity <= 64)
            free.removeAll(keepingCapacity: free.capacity <= 64)
            index.removeAll()
        }
        return entry
    }

    /// Gives an emptied bucket's room back. Every update passes through every bucket, so each would otherwise keep
    /// room for the most updates it ever held.
    private mutating func releaseIfEmpty(_ t: Int) {
        if buckets[t].isEmpty, buckets[t].capacity > 16 { buckets[t] = [] }
    }

    /// The place of `serial` in a bucket sorted by ascending serial, or where it would go.
    private func insertionPoint(of serial: UInt64, in bucket: [Ref]) -> Int {
        var low = 0, high = bucket.count
        while low < high {
            let mid = (low + high) / 2
            if bucket[mid].serial < serial { low = mid + 1 } else { high = mid }
        }
        return low
    }

    private func position(of serial: UInt64, in bucket: [Ref]) -> Int? {
        let i = insertionPoint(of: serial, in: bucket)
        return i < bucket.count && bucket[i].serial == serial ? i : nil
    }

    /// A datagram being filled: the messages in it and the bytes they take (its header left out).
    struct Fill: Sendable {
        var messages: [GossipMessage]
        var bytes: Int

        init(messages: [GossipMessage] = [], bytes: Int = 0) {
            self.messages = messages
            self.bytes = bytes
        }
    }

    /// Takes updates fitting in `budget` bytes, least-sent and newest first, counting one transmission for each and
    /// dropping those that reached `limit`. Returns the messages and the bytes they take.
    mutating func take(budget: Int, limit: Int) -> (messages: [GossipMessage], bytes: Int) {
        var fills = [Fill()]
        let bytes = take(into: &fills, budget: budget, limit: limit)
        return (fills[0].messages, bytes)
    }

    /// Fills each datagram of `fills` up to `budget` bytes with updates, least-sent and newest first, each into the
    /// first datagram with room for it (so that no update goes twice to one member in a round), counting one
    /// transmission for each and dropping those that reached `limit`. `cap`: at most this many bytes are added to
    /// any one datagram; `openingRoom`: a datagram with less room than this takes nothing; `skipping`: the places of
    /// entries an earlier pass over the same datagrams took (`noting`), which would otherwise go twice. Returns the
    /// bytes added.
    mutating func take(
        into fills: inout [Fill], budget: Int, limit: Int, cap: Int = .max, openingRoom: Int = 1, skipping: Set<Int32> = []
    ) -> Int {
        var notTracked: Set<Int32>? = nil
        return take(into: &fills, budget: budget, limit: limit, cap: cap, openingRoom: openingRoom, skipping: skipping, noting: &notTracked)
    }

    /// `take(into:budget:limit:cap:openingRoom:skipping:)` that also adds the places of the entries it takes to
    /// `noting`, if given, for a later pass to skip.
    mutating func take(
        into fills: inout [Fill], budget: Int, limit: Int, cap: Int = .max, openingRoom: Int = 1,
        skipping: Set<Int32>, noting taken: inout Set<Int32>?
    ) -> Int {
        guard index.count > 0, budget > 0 else { return 0 }
        // Each datagram's room; a closed one (too little room for anything more) is set to 0.
        var rooms = fills.map { min(budget - $0.bytes, cap) }
        var open = 0
        for i in rooms.indices {
            if rooms[i] >= max(openingRoom, 1) { open += 1 } else { rooms[i] = 0 }
        }
        guard open > 0 else { return 0 }
        var chosen: [(bucket: Int, slot: Int, fill: Int)] = []
        scan: for t in buckets.indices {
            for i in buckets[t].indices.reversed() {
                let place = buckets[t][i].place
                let size = slab[Int(place)]!.size
                guard let f = rooms.firstIndex(where: { $0 >= size }) else { continue }
                if !skipping.isEmpty, skipping.contains(place) { continue }
                taken?.insert(place)
                chosen.append((t, i, f))
                rooms[f] -= size
                if rooms[f] < 16 || rooms[f] < smallest {
                    rooms[f] = 0
                    open -= 1
                    if open == 0 { break scan }
                }
            }
        }
        guard !chosen.isEmpty else { return 0 }
        var moved: [Ref] = []
        moved.reserveCapacity(chosen.count)
        // Take the chosen out in the order chosen: within a bucket from its end, so that the slots still to go stay
        // valid.
        var expired = false
        var added = 0
        for (t, i, f) in chosen {
            let ref = buckets[t].remove(at: i)
            let place = Int(ref.place)
            fills[f].messages.append(slab[place]!.message)
            fills[f].bytes += slab[place]!.size
            added += slab[place]!.size
            slab[place]!.transmits += 1
            if slab[place]!.transmits >= limit {
                release(ref.place)
                expired = true
            } else {
                moved.append(ref)
            }
        }
        for (t, _, _) in chosen where t < buckets.count { releaseIfEmpty(t) }
        if expired, buckets.count > limit {
            // The limit fell (the mesh shrank): what was sent that often already goes too.
            for bucket in buckets[max(0, limit)...] {
                for ref in bucket { release(ref.place) }
            }
            buckets.removeSubrange(max(0, limit)...)
        }
        // Oldest first, so that each usually lands at its bucket's end.
        for ref in moved.reversed() {
            guard let transmits = slab[Int(ref.place)]?.transmits else { continue }
            if buckets.count <= transmits { buckets.append(contentsOf: repeatElement([], count: transmits + 1 - buckets.count)) }
            buckets[transmits].insert(ref, at: insertionPoint(of: ref.serial, in: buckets[transmits]))
        }
        return added
    }
}
