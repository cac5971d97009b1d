import Wire

/// What a state sync carries: this member's summary of everything it holds, and the records a peer's summary
/// shows it lacks. Pure functions of the member's state, so that each rule has a test of its own.
enum SyncRecords {
    typealias Instant = ContinuousClock.Instant

    /// A summary of this member (`own`), every member held and every digest held.
    static func summary(own: SyncSummary.MemberEntry, sender: String, table: MemberTable, digests: DigestStore,
                        wantsReply: Bool) -> SyncSummary {
        var entries: [SyncSummary.MemberEntry] = []
        entries.reserveCapacity(table.count + 1)
        entries.append(own)
        for m in table.members {
            entries.append(.init(name: m.name, generation: m.generation, incarnation: m.incarnation,
                                 status: m.state.summaryCode))
        }
        return SyncSummary(sender: sender, members: entries, digests: digests.summaryEntries, wantsReply: wantsReply)
    }

    /// A peer's summary indexed by name: its newest generation of each name, and any older one it holds beside it
    /// (a name started twice).
    struct PeerView {
        let sender: String
        private var known: [String: SyncSummary.MemberEntry] = [:]
        private var knownOlder: [MemberKey: SyncSummary.MemberEntry] = [:]

        init(_ peer: SyncSummary) {
            sender = peer.sender
            known.reserveCapacity(peer.members.count)
            for e in peer.members {
                if let k = known[e.name], k.generation != e.generation {
                    let older = k.generation < e.generation ? k : e
                    knownOlder[MemberKey(name: older.name, generation: older.generation)] = older
                    if k.generation < e.generation { known[e.name] = e }
                } else {
                    known[e.name] = e
                }
            }
        }

        /// The peer's entry for exactly this generation.
        func entry(_ name: String, _ generation: UInt64) -> SyncSummary.MemberEntry? {
            if let e = known[name], e.generation == generation { return e }
            return knownOlder.isEmpty ? nil : knownOlder[MemberKey(name: name, generation: generation)]
        }

        /// The peer's newest generation of `name`.
        func newest(_ name: String) -> SyncSummary.MemberEntry? { known[name] }
    }

    /// The member records (and tombstone verdicts) `peer` lacks, in a fixed order; `own` is this member's newest
    /// record, sent unless the peer holds it. `relayAge`: tombstones older than this are not passed on.
    static func lacking(in peer: PeerView, own: SignedMemberRecord, table: MemberTable, accuser: String,
                        relayAge: Duration, now: Instant) -> [GossipMessage] {
        var out: [GossipMessage] = []
        let ownIdentity = own.record.identity
        if let mine = peer.entry(ownIdentity.name, ownIdentity.generation), mine.incarnation >= own.record.incarnation {
            // The peer knows this record already.
        } else {
            out.append(.member(own))
        }
        // The peer knows itself best; another generation of its name is news to it (a name started twice).
        let senderGeneration = peer.newest(peer.sender)?.generation
        for m in table.members.sorted(by: { ($0.name, $0.generation) < ($1.name, $1.generation) }) {
            let record = m.record
            let generation = m.generation
            if m.name == peer.sender, generation == senderGeneration { continue }
            let e = peer.entry(m.name, generation)
            if !m.state.isActive, now - m.stateSince >= relayAge {
                // Old enough that the rumours it guards against are long gone: not passed on, so that a tombstone
                // cannot bounce between members that forget it at different times and outlive its time.
                continue
            }
            if m.state == .dead {
                // A tombstone, so that a peer that never heard of this generation (a joiner) rejects replays of its
                // alive records: its own record and the verdict. A peer that knows the generation already is left
                // to gossip and probes, as before: after a partition it holds its own side alive, and a verdict from
                // the other side would only make it doubt members it can reach.
                if e != nil { continue }
                if let newest = peer.newest(m.name), newest.generation > generation { continue }
                out.append(.member(record))
                out.append(.accusation(Accusation(kind: .dead, target: m.name, generation: generation, incarnation: m.incarnation,
                                                  accuser: accuser)))
                continue
            }
            if let e {
                if e.incarnation >= record.record.incarnation { continue }
            } else if let newest = peer.newest(m.name), newest.generation > generation, !m.state.isActive {
                // A predecessor's tombstone is no news where its successor is known; a live older generation is
                // (the peer checks whether it still runs).
                continue
            }
            out.append(.member(record))
        }
        return out
    }
}
