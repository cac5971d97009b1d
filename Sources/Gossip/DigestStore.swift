import Wire

/// The newest verified digest of every origin, and, for a name started twice, of each live generation held beside
/// the newest (so that each vouches with its own).
struct DigestStore: Sendable {
    /// Of each origin's newest generation.
    private(set) var newest: [String: SignedDigest] = [:]
    /// Of older generations held beside a newer one of their name; empty unless a name is in conflict.
    private(set) var older: [MemberKey: SignedDigest] = [:]

    /// Where a received digest belongs, once it proved new: the newest of its name, or an older generation's.
    enum Slot: Sendable, Equatable {
        case newest
        case older(MemberKey)
    }

    /// Every digest held, sorted by origin name and generation.
    var all: [SignedDigest] {
        let all = older.isEmpty ? Array(newest.values) : Array(newest.values) + older.values
        return all.sorted { ($0.digest.origin.name, $0.digest.origin.generation) < ($1.digest.origin.name, $1.digest.origin.generation) }
    }

    subscript(origin: String) -> SignedDigest? { newest[origin] }

    /// Where `d` would go and the order it must beat there; nil when it cannot be news: an older generation's digest
    /// counts only while that generation runs beside the newer one (a name started twice), otherwise it is a
    /// predecessor's. Duplicates and replays (order not above the stored one) are the common case of epidemic
    /// gossip: dropped silently, never relayed, never counted as rejections.
    func slot(for d: HealthDigest, in table: MemberTable) -> (slot: Slot, stored: DigestOrder?)? {
        let name = d.origin.name
        var stored = newest[name]?.digest.order
        var slot = Slot.newest
        if let held = newest[name], d.origin.generation < held.digest.origin.generation {
            let key = MemberKey(name: name, generation: d.origin.generation)
            guard table.hasOlderGenerations, table[key] != nil else { return nil }
            slot = .older(key)
            stored = older[key]?.digest.order
        }
        if let stored, d.order <= stored { return nil }
        return (slot, stored)
    }

    /// Stores a verified digest in its slot. A newer generation's displaces the newest, which is kept as an older
    /// generation's if that generation still runs beside it.
    mutating func store(_ signed: SignedDigest, in slot: Slot, table: MemberTable) {
        switch slot {
        case .older(let key):
            older[key] = signed
        case .newest:
            let name = signed.digest.origin.name
            if let held = newest[name], held.digest.origin.generation < signed.digest.origin.generation, table.hasOlderGenerations {
                let key = MemberKey(name: name, generation: held.digest.origin.generation)
                if table[key] != nil, table[name]?.generation != key.generation { older[key] = held }
            }
            newest[name] = signed
        }
    }

    /// Stores this member's own digest; false when one as new is held already.
    mutating func storeOwn(_ signed: SignedDigest) -> Bool {
        let origin = signed.digest.origin.name
        if let held = newest[origin], signed.digest.order <= held.digest.order { return false }
        newest[origin] = signed
        return true
    }

    /// Forgets the digest of an older generation `key` (it left the table).
    mutating func forgetOlder(_ key: MemberKey) {
        if !older.isEmpty { older[key] = nil }
    }

    /// The key `signed` is queued under for dissemination: an older generation's digest held beside a newer one has
    /// a key of its own, so that news of one generation never displaces news of the other.
    func queueKey(of signed: SignedDigest) -> String {
        let origin = signed.digest.origin
        let held = newest[origin.name]?.digest.origin.generation ?? origin.generation
        return held > origin.generation ? "d:\(origin.name)#\(origin.generation)" : "d:" + origin.name
    }

    /// The summary entries of every digest held, for state sync.
    var summaryEntries: [SyncSummary.DigestEntry] {
        var entries = newest.values.map { SyncSummary.DigestEntry(origin: $0.digest.origin.name, order: $0.digest.order) }
        for d in older.values { entries.append(.init(origin: d.digest.origin.name, order: d.digest.order)) }
        return entries
    }

    /// The digests a peer lacks, judged by the digest entries of its summary, in a fixed order.
    func lacking(in peer: [SyncSummary.DigestEntry]) -> [GossipMessage] {
        var out: [GossipMessage] = []
        var stored: [String: DigestOrder] = [:]
        for e in peer {
            if let order = stored[e.origin], order >= e.order { continue }
            stored[e.origin] = e.order
        }
        for d in newest.values.sorted(by: { $0.digest.origin.name < $1.digest.origin.name }) {
            if let order = stored[d.digest.origin.name], order >= d.digest.order { continue }
            out.append(.digest(d))
        }
        if !older.isEmpty {
            var exact: [MemberKey: UInt64] = [:]
            for e in peer {
                let key = MemberKey(name: e.origin, generation: e.order.generation)
                exact[key] = max(exact[key] ?? 0, e.order.version)
            }
            for (key, d) in older.sorted(by: { ($0.key.name, $0.key.generation) < ($1.key.name, $1.key.generation) }) {
                if let version = exact[key], version >= d.digest.version { continue }
                out.append(.digest(d))
            }
        }
        return out
    }
}
