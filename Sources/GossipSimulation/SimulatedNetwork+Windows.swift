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

    /// Runs every event earlier than `start + lookahead` (and not after `end`; both in `heapTime`), members at once.
    func runWindow(from start: Int64, lookahead: Duration, through end: Int64) {
        let window = lookahead.components
        let limitAt = start + window.seconds * 1_000_000_000 + window.attoseconds / 1_000_000_000
        let limit = instant(limitAt), endInstant = instant(end)
        var batch: [(time: ContinuousClock.Instant, node: Int, event: Event)] = []
        while let first = heap.first, first.at < limitAt, first.at <= end {
            let time = instant(first.at)
            let event = popEvent()
            batch.append((time, event.node, event))
        }
        // Each member's events together, in the order they came off the heap (time, then serial): sorted as packed
        // (member, place) keys, which a plain integer sort orders fastest.
        let byNode = batch.indices.map { UInt64(batch[$0].node) << 32 | UInt64($0) }.sorted().map { Int($0 & 0xFFFF_FFFF) }
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
                                      out: out, limit: limit, end: endInstant, epoch: epoch, wallClockBase: wallClockBase)
                if threads == 1 { work.run(thread: 0) } else { DispatchQueue.concurrentPerform(iterations: threads) { work.run(thread: $0) } }
            }
        }
        // The network acts in a fixed order (time, member, the order asked), whichever thread ran whom; the records
        // stay put in their threads' lists (a copy of each retains its messages) and their places are sorted.
        var keys: [(at: Int64, then: UInt64, thread: Int32, place: Int32)] = []
        keys.reserveCapacity(results.reduce(0) { $0 + $1.count })
        for t in results.indices {
            results[t].withUnsafeBufferPointer { records in
                // Fields read in place: a copy of a record would retain its messages.
                for place in records.indices {
                    let at = heapTime(records[place].time)
                    keys.append((at, UInt64(records[place].node) << 32 | UInt64(records[place].order), Int32(t), Int32(place)))
                }
            }
        }
        keys.sort { ($0.at, $0.then) < ($1.at, $1.then) }
        for key in keys {
            results[Int(key.thread)].withUnsafeBufferPointer { records in
                let place = Int(key.place)
                now = records[place].time
                switch records[place].request {
                case .action(let action): apply(action, from: records[place].node)
                case .syncReply(let reply): sendSync(from: records[place].node, to: reply.peer, stream: reply.stream, messages: reply.messages)
                }
            }
        }
        now = min(limit, endInstant)
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
                run(ranges[r], of: batch[byNode[ranges[r].lowerBound]].node, into: &out[thread])
            }
        }

        /// Member `node` takes its events (places in `byNode`) and the wakes it asks for inside the window, in time order (an event before
        /// a wake of the same instant, as the heap would have it), and writes down everything else it asks for.
        private func run(_ events: Range<Int>, of node: Int, into records: inout [WindowRecord]) {
            var wakes: [ContinuousClock.Instant] = []   // ascending; a few at most
            var next = events.lowerBound
            var order = 0
            while true {
                let time: ContinuousClock.Instant
                let event: Event
                if next < events.upperBound, wakes.first.map({ batch[byNode[next]].time <= $0 }) ?? true {
                    (time, event) = (batch[byNode[next]].time, batch[byNode[next]].event)
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
