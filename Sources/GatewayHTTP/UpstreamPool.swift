// Keep-alive connections to upstreams, one pool per event loop: a client connection only ever uses
// upstream connections of its own loop, so no exchange hops threads and nothing here needs a lock.
import NIOCore
import NIOPosix

/// The idle keep-alive connections of one event loop, per upstream, bounded per upstream and in all.
/// Its stored state is `@exclusivity(unchecked)`, for the reasons ``ProxyHandler`` gives.
final class UpstreamPool {
    let eventLoop: any EventLoop
    @exclusivity(unchecked) private var idle: [Upstream: [UpstreamConnection]] = [:]
    private let maxIdlePerUpstream: Int
    /// The most idle connections kept on this loop over all upstreams: the loop's share of the
    /// proxy's connection limit, so idle connections cannot exhaust the descriptors the limit leaves.
    private let maxIdleTotal: Int
    @exclusivity(unchecked) private var idleCount = 0
    private let idleTimeout: TimeAmount
    private let connectTimeout: TimeAmount
    @exclusivity(unchecked) private var closed = false

    init(eventLoop: any EventLoop, maxIdlePerUpstream: Int, maxIdleTotal: Int = .max, idleTimeout: TimeAmount, connectTimeout: TimeAmount) {
        self.eventLoop = eventLoop
        self.maxIdlePerUpstream = maxIdlePerUpstream
        self.maxIdleTotal = max(1, maxIdleTotal)
        self.idleTimeout = idleTimeout
        self.connectTimeout = connectTimeout
    }

    /// The most recently used live idle connection to `upstream`, if any; the most recent is the
    /// least likely to have been closed by the upstream's own idle timeout.
    func takeIdle(_ upstream: Upstream) -> UpstreamConnection? {
        guard idleCount > 0 else { return nil }
        let oldest = NIODeadline.now() - idleTimeout
        // One dictionary lookup, the list modified in place through the subscript (a lookup per connection popped
        // cost twice as much); the stale ones are closed after it, since a close may call back into the pool.
        var stale: [UpstreamConnection] = []
        let live = Self.popLive(from: &idle[upstream, default: []], after: oldest, stale: &stale)
        idleCount -= stale.count + (live == nil ? 0 : 1)
        for connection in stale { connection.close() }
        return live
    }

    private static func popLive(from list: inout [UpstreamConnection], after oldest: NIODeadline,
                                stale: inout [UpstreamConnection]) -> UpstreamConnection? {
        while let connection = list.popLast() {
            connection.isIdle = false
            if connection.isActive && connection.idleSince > oldest { return connection }
            stale.append(connection)
        }
        return nil
    }

    /// Starts a new connection to `upstream` on this loop: the handler at once, the channel when connected.
    func connect(_ upstream: Upstream) -> (UpstreamConnection, EventLoopFuture<any Channel>) {
        let handler = UpstreamConnection(upstream: upstream)
        handler.pool = self
        let handlerBox = NIOLoopBound(handler, eventLoop: eventLoop)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(handlerBox.value)
                }
            }
        // An IP literal needs no resolver round trip (the common case: endpoints are pod IPs).
        let future: EventLoopFuture<any Channel>
        if let address = try? SocketAddress(ipAddress: upstream.host, port: Int(upstream.port)) {
            future = bootstrap.connect(to: address)
        } else {
            future = bootstrap.connect(host: upstream.host, port: Int(upstream.port))
        }
        return (handler, future)
    }

    /// Takes a connection back after a complete exchange, or closes it when the pool is full or closed.
    func release(_ connection: UpstreamConnection) {
        connection.owner = nil
        // Reads may have been held for a slow client; an idle connection must notice its own close.
        connection.holdReads(false)
        guard !closed, connection.isActive, !connection.isPoisoned, idleCount < maxIdleTotal else {
            connection.close()
            return
        }
        // One dictionary lookup: the list is modified in place through the subscript.
        if Self.append(connection, to: &idle[connection.upstream, default: []], limit: maxIdlePerUpstream) {
            idleCount += 1
        } else {
            connection.close()
        }
    }

    private static func append(_ connection: UpstreamConnection, to list: inout [UpstreamConnection], limit: Int) -> Bool {
        guard list.count < limit else { return false }
        connection.isIdle = true
        connection.idleSince = .now()
        list.append(connection)
        return true
    }

    /// Forgets an idle connection that closed.
    func remove(_ connection: UpstreamConnection) {
        connection.isIdle = false
        let before = idle[connection.upstream]?.count ?? 0
        idle[connection.upstream]?.removeAll { $0 === connection }
        idleCount -= before - (idle[connection.upstream]?.count ?? 0)
    }

    /// Closes the idle connections to upstreams not in `live`: the table no longer routes to them, and
    /// one handed to a retry later could be stale or hang (a paused endpoint still holds its sockets).
    func closeIdle(notIn live: Set<Upstream>) {
        let gone = idle.keys.filter { !live.contains($0) }
        for upstream in gone {
            guard let connections = idle.removeValue(forKey: upstream) else { continue }
            idleCount -= connections.count
            for connection in connections {
                connection.isIdle = false
                connection.pool = nil
                connection.close()
            }
        }
    }

    /// How many idle connections the pool holds to `upstream` (for tests).
    func idleCount(_ upstream: Upstream) -> Int {
        idle[upstream]?.count ?? 0
    }

    /// Closes every idle connection and every one released from now on.
    func closeAll() {
        closed = true
        let all = idle.values.flatMap { $0 }
        idle.removeAll()
        idleCount = 0
        for connection in all {
            connection.isIdle = false
            connection.pool = nil
            connection.close()
        }
    }
}
