import Dispatch
import Gossip
import SeededRandom
import Wire

/// Members run at once, a window of virtual time at a time: conservative parallel simulation.
///
/// Nothing a member sends arrives sooner than the shortest link delay, so within a window that short no member's
/// events depend on another's: each member takes its own events, and the wakes it asks for inside the window, in
/// time order, on whichever thread; only then does the network act on what they asked for, one member after another
/// in a fixed order (time, member, the order asked), drawing loss and delay from its one generator. A seed
/// therefore gives the same run whatever the threads do. A mesh of 10,000 simulated on two cores is what it is for.
extension SimulatedNetwork {
    /// One thing a member asked of the network during a window, and when.
    struct WindowRecord {
        var time: ContinuousClock.Instant
        var node: Int
        var order: Int
        var request: Request

        enum Request {
            case action(SimulatedOutbox.Action)
            case syncReply(SyncReply)
        }
    }

    /// The shortest delay of a datagram (state syncs take twice a datagram's): the window's length; nil when it is
    /// zero and events must go one at a time.
    var windowLookahead: Duration? {
        let shortest = link.latency - link.jitter
        return shortest > .zero ? shortest : nil
    }

    /// Runs every event earlier than `start + lookahead` (and not after `end`), members at once.
    func runWindow(from start: ContinuousClock.Instant, lookahead: Duration, through end: ContinuousClock.Instant) {
        let limit = start + lookahead
        var batch: [(time: ContinuousClock.Instant, node: Int, event: Event)] = []
        while let first = heap.first, first.time < limit, first.time <= end {
            let time = first.time
            let event = popEvent()
            batch.append((time, event.node, event))
        }
        // Each member's events together, in the order they came off the heap (time, then serial).
        let byNode = batch.indices.sorted { (batch[$0].node, $0) < (batch[$1].node, $1) }
        var ranges: [Range<Int>] = []
        var from = 0
        for k in 1...byNode.count where k == byNode.count || batch[byNode[k]].node != batch[byNode[from]].node {
            ranges.append(from..<k)
            from = k
        }
        // Waking threads costs more than a few events take: a small window runs on this one.
        let threads = batch.count >= minimumParallelBatch ? min(workers, ranges.count) : 1
        var results = Array(repeating: [WindowRecord](), count: threads)
        nodes.withUnsafeMutableBufferPointer { members in
            results.withUnsafeMutableBufferPointer { out in
                let work = WindowWork(batch: batch, byNode: byNode, ranges: ranges, threads: threads, members: members,
                                      out: out, limit: limit, end: end, epoch: epoch, wallClockBase: wallClockBase)
                if threads == 1 { work.run(thread: 0) } else { DispatchQueue.concurrentPerform(iterations: threads) { work.run(thread: $0) } }
            }
        }
        var records = results.flatMap { $0 }
        records.sort { ($0.time, $0.node, $0.order) < ($1.time, $1.node, $1.order) }
        for record in records {
            now = record.time
            switch record.request {
            case .action(let action): apply([action], from: record.node)
            case .syncReply(let reply): sendSync(from: record.node, to: reply.peer, stream: reply.stream, messages: reply.messages)
            }
        }
        now = min(limit, end)
    }

    /// One window's members and their events, shared by the threads: each thread runs the members of every
    /// `threads`-th range and writes to its own `out` slot, and no two ranges are of the same member, so no two
    /// threads touch the same memory. Unchecked for that reason.
    struct WindowWork: @unchecked Sendable {
        let batch: [(time: ContinuousClock.Instant, node: Int, event: Event)]
        let byNode: [Int]
        let ranges: [Range<Int>]
        let threads: Int
        let members: UnsafeMutableBufferPointer<Node>
        let out: UnsafeMutableBufferPointer<[WindowRecord]>
        let limit: ContinuousClock.Instant
        let end: ContinuousClock.Instant
        let epoch: ContinuousClock.Instant
        let wallClockBase: UInt64

        func inWindow(_ t: ContinuousClock.Instant) -> Bool { t < limit && t <= end }

        func run(thread: Int) {
            for r in stride(from: thread, to: ranges.count, by: threads) {
                let node = batch[byNode[ranges[r].lowerBound]].node
                run(ranges[r].map { batch[byNode[$0]] }, of: node, into: &out[thread])
            }
        }

        /// Member `node` takes `events` and the wakes it asks for inside the window, in time order (an event before
        /// a wake of the same instant, as the heap would have it), and writes down everything else it asks for.
        private func run(_ events: [(time: ContinuousClock.Instant, node: Int, event: Event)], of node: Int, into records: inout [WindowRecord]) {
            var wakes: [ContinuousClock.Instant] = []   // ascending; a few at most
            var next = 0
            var order = 0
            while true {
                let time: ContinuousClock.Instant
                let event: Event
                if next < events.count, wakes.first.map({ events[next].time <= $0 }) ?? true {
                    (time, event) = (events[next].time, events[next].event)
                    next += 1
                } else if let wake = wakes.first {
                    wakes.removeFirst()
                    (time, event) = (wake, .tick(node: node))
                } else {
                    return
                }
                let c = (time - epoch).components
                let wall = wallClockBase + UInt64(max(0, c.seconds * 1000 + c.attoseconds / 1_000_000_000_000_000))
                var outbox = SimulatedOutbox()
                let reply = SimulatedNetwork.deliver(event, to: &members[node], at: time, wallClockMillis: wall, outbox: &outbox)
                for action in outbox.actions {
                    if case .wake(let at) = action, inWindow(at) {
                        let place = wakes.firstIndex { $0 > at } ?? wakes.count
                        wakes.insert(at, at: place)
                        continue
                    }
                    records.append(WindowRecord(time: time, node: node, order: order, request: .action(action)))
                    order += 1
                }
                if let reply {
                    records.append(WindowRecord(time: time, node: node, order: order, request: .syncReply(reply)))
                    order += 1
                }
            }
        }
    }
}

extension SimulatedNetwork.Event {
    /// The member the event is for.
    var node: Int {
        switch self {
        case .tick(let node): node
        case .packet(let node, _, _, _): node
        case .sync(let node, _, _, _): node
        }
    }
}
