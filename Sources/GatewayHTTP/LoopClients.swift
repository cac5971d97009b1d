// What the proxy keeps per event loop beyond its upstream pool: the client connections living there, so that a
// newly published routing table reaches the exchanges in flight on that loop, and so that one sweep a tick checks
// their deadlines.
import NIOCore

/// The proxy's client connections of one event loop; used only on that loop, so it needs no lock.
///
/// A connection registers once when it is added and leaves when it is removed (not per request), so the hot path
/// of a keep-alive connection never touches this.
///
/// **Deadlines.** The loop checks its connections' deadlines itself, one pass every ``tick`` while it has any, instead
/// of a NIO timer per connection. A timer cost 2.7 k instructions to schedule and 3 k to cancel, 4.5% of a
/// connection that carries one request (callgrind); and NIO cancels by searching its whole timer heap
/// (`Heap.removeFirst(where:)`), so each connection closing searched the timers of every connection open. A pass
/// reads one deadline per connection.
/// The price: a deadline is acted on up to one tick late; a tick is an eighth of the shortest timeout, within 5–250 ms.
final class LoopClients {
    private var handlers: [ObjectIdentifier: ProxyHandler] = [:]
    private let eventLoop: any EventLoop
    /// How often the deadlines are checked.
    let tick: TimeAmount
    private var sweepScheduled = false

    init(eventLoop: any EventLoop, tick: TimeAmount) {
        self.eventLoop = eventLoop
        self.tick = tick
    }

    /// The tick for connections whose timers are `timeouts`: an eighth of the period they are checked in
    /// (``ClientTimeouts/checkPeriod``, the shortest timeout), between 5 ms and 250 ms.
    static func tick(for timeouts: ClientTimeouts) -> TimeAmount {
        .nanoseconds(min(250_000_000, max(5_000_000, timeouts.checkPeriod.nanoseconds / 8)))
    }

    var count: Int { handlers.count }

    /// A pass is scheduled: the loop has connections, or had some at the last pass.
    var isSweeping: Bool { sweepScheduled }

    func add(_ handler: ProxyHandler) {
        handlers[ObjectIdentifier(handler)] = handler
        if !sweepScheduled { scheduleSweep() }
    }

    func remove(_ handler: ProxyHandler) {
        handlers.removeValue(forKey: ObjectIdentifier(handler))
    }

    /// Tells every connection of this loop which upstreams the newest table gives weight to; a
    /// connection whose request waits on an upstream not among them may send it elsewhere.
    func tablePublished(live: Set<Upstream>) {
        // The loop walks a snapshot: a handler that closes in reaction leaves the dictionary meanwhile.
        for handler in handlers.values {
            handler.tablePublished(live: live)
        }
    }

    /// One pass over the deadlines; the next is scheduled while connections remain (a loop without any sleeps).
    fileprivate func sweep() {
        sweepScheduled = false
        let now = NIODeadline.now()
        for handler in handlers.values {
            handler.checkDeadlines(now: now)
        }
        if !handlers.isEmpty { scheduleSweep() }
    }

    private func scheduleSweep() {
        // Fails only once the loop is shutting down, when its connections are being closed anyway.
        sweepScheduled = (try? eventLoop.assumeIsolated().scheduleCallback(in: tick, handler: DeadlineSweep(clients: self))) != nil
    }
}

/// The scheduled pass of ``LoopClients/sweep()``.
private struct DeadlineSweep: NIOScheduledCallbackHandler {
    let clients: LoopClients

    func handleScheduledCallback(eventLoop: some EventLoop) {
        clients.sweep()
    }
}

/// One event loop's share of the proxy: its upstream pool and its client connections.
final class ProxyLoop {
    let pool: UpstreamPool
    let clients: LoopClients

    init(pool: UpstreamPool, tick: TimeAmount) {
        self.pool = pool
        self.clients = LoopClients(eventLoop: pool.eventLoop, tick: tick)
    }

    /// A new table is in force: idle connections to endpoints it no longer gives weight to are closed
    /// (a paused or cut-off endpoint would otherwise hand a stale connection to the next retry), and
    /// requests in flight to such endpoints are re-sent where that is harmless.
    func tablePublished(live: Set<Upstream>) {
        pool.closeIdle(notIn: live)
        clients.tablePublished(live: live)
    }
}
