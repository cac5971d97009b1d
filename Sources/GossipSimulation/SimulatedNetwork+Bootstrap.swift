import Dispatch
import Gossip
import SeededRandom
import Wire

extension SimulatedNetwork {
    /// Starts every member with a complete view of the others, as if each had just synced with everyone: the
    /// cheap way to set up a large mesh. No update is queued for gossip, so the mesh starts quiet.
    ///
    /// Members take the sync at once on `workers` threads: each touches only itself (and the verification memo,
    /// which memoises a pure function behind a lock), so the outcome does not depend on the threads. At N = 10,000
    /// this is 10⁸ records stored.
    public func bootstrapFullView() {
        let records = nodes.map { GossipMessage.member($0.member.core.ownRecord) }
        var ticks = Array(repeating: [GossipDirective](), count: nodes.count)
        let threads = nodes.count >= minimumParallelBatch ? max(1, workers) : 1
        nodes.withUnsafeMutableBufferPointer { members in
            ticks.withUnsafeMutableBufferPointer { out in
                let work = BootstrapWork(records: records, members: members, ticks: out, threads: threads, now: now, wallClockMillis: wallClockMillis)
                if threads == 1 { work.run(thread: 0) } else { DispatchQueue.concurrentPerform(iterations: threads) { work.run(thread: $0) } }
            }
        }
        for i in nodes.indices { step(i) { $0.execute(ticks[i], shell: &$1) } }
    }

    /// The members' part of `bootstrapFullView`: thread t takes every `threads`-th member, and writes only to
    /// that member and its slot of `ticks`. Unchecked for that reason.
    private struct BootstrapWork: @unchecked Sendable {
        let records: [GossipMessage]
        let members: UnsafeMutableBufferPointer<Node>
        let ticks: UnsafeMutableBufferPointer<[GossipDirective]>
        let threads: Int
        let now: ContinuousClock.Instant
        let wallClockMillis: UInt64

        func run(thread: Int) {
            for i in stride(from: thread, to: members.count, by: threads) {
                var generator = members[i].member.rng
                _ = members[i].member.core.join(seeds: [], now: now, wallClockMillis: wallClockMillis, rng: &generator)
                let (_, directives) = members[i].member.core.onStateSync(
                    records, from: SimulatedNetwork.address(of: i), now: now, wallClockMillis: wallClockMillis, rng: &generator)
                members[i].member.rng = generator
                ticks[i] = directives.filter { if case .scheduleTick = $0 { return true } else { return false } }
            }
        }
    }
}
