// What the proxy keeps per event loop beyond its upstream pool: the client connections living there,
// so that a newly published routing table reaches the exchanges in flight on that loop.

/// The proxy's client connections of one event loop; used only on that loop, so it needs no lock.
///
/// A connection registers once when it is added and leaves when it is removed (not per request), so
/// the hot path of a keep-alive connection never touches this.
final class LoopClients {
    private var handlers: [ObjectIdentifier: ProxyHandler] = [:]

    init() {}

    var count: Int { handlers.count }

    func add(_ handler: ProxyHandler) {
        handlers[ObjectIdentifier(handler)] = handler
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
}

/// One event loop's share of the proxy: its upstream pool and its client connections.
final class ProxyLoop {
    let pool: UpstreamPool
    let clients = LoopClients()

    init(pool: UpstreamPool) {
        self.pool = pool
    }

    /// A new table is in force: idle connections to endpoints it no longer gives weight to are closed
    /// (a paused or cut-off endpoint would otherwise hand a stale connection to the next retry), and
    /// requests in flight to such endpoints are re-sent where that is harmless.
    func tablePublished(live: Set<Upstream>) {
        pool.closeIdle(notIn: live)
        clients.tablePublished(live: live)
    }
}
