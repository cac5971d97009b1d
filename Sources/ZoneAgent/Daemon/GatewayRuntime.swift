import GatewayHTTP
import Gossip
import GossipNIO
import Logging
import MeshCrypto
import NIOPosix
import Synchronization
import Wire
import WeightTable

/// The gateway's own work: rebuild the weight table whenever the mesh changes (or a hold-down or ramp step is
/// due), publish it atomically to the proxy, and push it to the configured outputs.
actor GatewayLoop {
    private let mesh: MeshRuntime
    private var routes: [RouteSpec]
    private var policy: TablePolicy
    let pickers: PickerBox
    /// Told of every table right after the pickers have it (the built-in proxy re-sends requests in
    /// flight to endpoints the table dropped).
    let published = TableListeners()
    /// The request tally, share history and routing events behind the status page.
    let status: GatewayStatus
    private var state = TableState()
    /// Members and digests as the table needs them, kept up to date by ``apply(_:)``.
    private var view = MeshView()
    private var lastResync: ContinuousClock.Instant?
    /// The stored digests the roster in force no longer trusts, as counted (see `trustedDigests`).
    private var countedRejections: Set<String> = []
    /// Envoy and HAProxy, kept in step with the table and retried until they are.
    let outputs: OutputSync
    private var rebuilding = false
    private var rebuildAgain = false
    /// This gateway's passive outlier detection, with the built-in proxy (on while `failover.outlierDetection` is
    /// set): read at every rebuild.
    private var outliers: OutlierMonitor?
    private var logger: Logger

    init(mesh: MeshRuntime, routes: [RouteSpec], policy: TablePolicy = TablePolicy()) {
        self.mesh = mesh
        self.routes = routes
        self.policy = policy
        self.pickers = PickerBox(EndpointPicker(table: .empty))
        self.status = GatewayStatus(routes: routes, startedAtMillis: wallClockMillis(), suspectsVouch: policy.vouches(.suspect))
        self.outputs = OutputSync(outputs: Self.outputs(mesh.config.outputs), logger: mesh.logger)
        self.logger = mesh.logger
    }

    /// Takes one gossip event into the view and rebuilds if the table may change; nil asks for a rebuild as is.
    func apply(_ event: GossipEvent?) {
        if let event, !view.apply(event) { return }
        scheduleRebuild()
    }

    /// Puts new routes and policy in force (a reload, or an Ingress watched through the Kubernetes API) and rebuilds.
    /// The table's history carries over, so clusters whose weights did not change do not move.
    func reconfigure(routes: [RouteSpec], policy: TablePolicy? = nil) {
        self.routes = routes
        if let policy { self.policy = policy }
        ZoneMetrics.table.declare(routes: routes)
        scheduleRebuild()
    }

    /// The Envoy and HAProxy outputs `config` names.
    static func outputs(_ config: Config.OutputsConfig) -> [TableOutput] {
        var outputs: [TableOutput] = []
        if let envoy = config.envoyDirectory.map(EnvoyEDSOutput.init(directory:)) {
            outputs.append(TableOutput(name: "envoy") { try envoy.write($0) })
        }
        if let haproxy = config.haproxy.map({
            HAProxyRuntimeOutput(socketPath: $0.socket, backend: $0.backend, serverPrefix: $0.serverPrefix,
                                 service: $0.service, group: MultiThreadedEventLoopGroup.singleton)
        }) {
            outputs.append(TableOutput(name: "haproxy") { try await haproxy.apply($0) })
        }
        return outputs
    }

    /// Applies `monitor`'s ejections and demotions to every table from now on.
    func useOutliers(_ monitor: OutlierMonitor) {
        outliers = monitor
        scheduleRebuild()
    }

    /// Puts a reloaded `failover.outlierDetection` in force (nil: off); the monitor asks for the rebuild.
    func reconfigure(outliers policy: OutlierPolicy?) {
        outliers?.replace(policy: policy)
    }

    /// The routes in force.
    var currentRoutes: [RouteSpec] { routes }

    /// Asks for a rebuild. Rebuilds run one at a time (each reads the mesh across suspension points, so two at
    /// once could publish an older snapshot last); requests made during one fold into a single further pass.
    func scheduleRebuild() {
        if rebuilding {
            rebuildAgain = true
            return
        }
        rebuilding = true
        Task { await self.rebuildUntilCurrent() }
    }

    private func rebuildUntilCurrent() async {
        repeat {
            rebuildAgain = false
            await rebuild()
        } while rebuildAgain
        rebuilding = false
    }

    /// Replaces the view from the gossip service when one is due: at the first rebuild, then every
    /// `resyncInterval`. Events that arrive meanwhile are replayed on top of the snapshot.
    private func resyncIfDue(now: ContinuousClock.Instant) async {
        if let last = lastResync, now - last < Self.resyncInterval { return }
        lastResync = now
        view.beginResync()
        let members = await mesh.gossip.members()
        view.resync(members: members, digests: await mesh.gossip.digests(), cutOff: await mesh.gossip.isCutOff())
    }

    /// How often the view is replaced whole. 10 s: long enough that the copy costs nothing, short enough that
    /// tombstones the service prunes leave the view soon and an event dropped under overload is repaired soon.
    static let resyncInterval: Duration = .seconds(10)

    /// Rebuilds the table from the current view of the mesh.
    private func rebuild() async {
        await resyncIfDue(now: .now)
        let (trusted, distrusted, rejected) = Self.trustedDigests(view.signedDigests, roster: mesh.keys.currentRoster)
        // Counted once each, as the gossip core counts a digest it refuses on arrival.
        for digest in rejected.subtracting(countedRejections).sorted() {
            ZoneMetrics.mesh.recordRejected(reason: "untrusted_key")
            logger.warning("stored digest rejected: the trust roster no longer trusts its key", metadata: ["digest": "\(digest)"])
        }
        countedRejections = rejected
        // Isolated (the view heard from members before and now hears from none): the last good table is kept.
        // Which members vouch is the table policy's rule (`TablePolicy.Vouching`).
        var inputs = view.tableInputs(routes: routes, digests: trusted, wallClockMillis: wallClockMillis())
        inputs.distrusted = distrusted
        inputs.drains = await drainsInForce(nowMillis: inputs.wallClockMillis)
        if let outliers { inputs.outliers = outliers.view() }
        let previousVersion = state.version
        let previouslyExpired = state.expiredOrigins
        let buildStarted = ContinuousClock.now
        let built = TableBuilder.build(inputs, state: state, policy: policy, now: .now)
        ZoneMetrics.table.rebuild.record(.now - buildStarted)
        ZoneMetrics.table.isolated.set(Int64(inputs.isolated ? 1 : 0))
        state = built.state
        if state.expiredOrigins != previouslyExpired {
            ZoneMetrics.digestsExpired(state.expiredOrigins.count)
            let newly = state.expiredOrigins.filter { !previouslyExpired.contains($0) }
            if !newly.isEmpty {
                logger.warning("digest lease ran out: these live agents no longer vouch (are their probe loops stalled?)", metadata: [
                    "agents": "\(newly)", "lease": "\(policy.digestLease.map { "\($0)" } ?? "none")",
                ])
            }
        }
        guard built.table.version != previousVersion else { return }
        pickers.store(EndpointPicker(table: built.table))
        outliers?.tablePublished(built.table)
        published.notify(built.table)
        let classified = status.events.record(state.latestChanges, in: built.table)
        ZoneMetrics.table.changed(classified)
        for (change, kind) in classified {
            logger.notice("routing change", metadata: [
                "route": "\(change.route)", "cluster": "\(change.cluster)", "from": "\(change.from)", "to": "\(change.to)",
                "kind": "\(kind.rawValue)", "reason": "\(change.reason)",
            ])
        }
        ZoneMetrics.table.published(built.table)
        // A sample at each new table too, so the status chart moves where the table did, not at the next tick.
        status.sampleNow(built.table)
        // The outputs get the newest table on their own task: a slow HAProxy socket must not hold up the next
        // rebuild, and with it the built-in proxy's failover.
        outputs.submit(built.table)
    }

    /// Pushes tables to Envoy and HAProxy as they come, skipping to the newest when one push is slow, and
    /// retrying a failed push until it succeeds. Runs until shutdown even with no output configured: a service
    /// that returns stops the whole group.
    func runOutputs() async {
        await outputs.run()
    }

    /// Wakes for hold-down ends, ramp steps and digest leases running out, which change weights with no new
    /// mesh input, and at least every second regardless.
    func runTimers() async throws {
        while !Task.isCancelled {
            let rebuildAt = [state.nextRebuildAt, outliers?.nextReleaseAt].compactMap { $0 }.min()
            let wake = Self.nextWake(rebuildAt: rebuildAt, leaseExpiryMillis: state.nextLeaseExpiryMillis,
                                     now: .now, wallClockMillis: wallClockMillis())
            try await Task.sleep(until: wake, clock: .continuous)
            scheduleRebuild()
        }
    }

    /// When the table timer next wakes: at a hold-down end or ramp step, when the next digest lease runs out, and
    /// at least every second. Pure, so the timing is tested without waiting.
    static func nextWake(rebuildAt: ContinuousClock.Instant?, leaseExpiryMillis: UInt64?, now: ContinuousClock.Instant,
                         wallClockMillis: UInt64) -> ContinuousClock.Instant {
        var wake = rebuildAt.map { min($0, now + .seconds(1)) } ?? now + .seconds(1)
        if let expiry = leaseExpiryMillis {
            // At least 50 ms: the rebuild this wake starts runs on its own task, and until it lands the state
            // still names the lease that just ran out; a zero wait would spin.
            let inMillis = expiry > wallClockMillis ? max(50, min(expiry - wallClockMillis, 1_000)) : 50
            wake = min(wake, now + .milliseconds(Int64(inMillis)))
        }
        return wake
    }
}

/// Callbacks that hear of each table the gateway publishes, in order, on the rebuild's task; each must
/// return quickly (the proxy's hops to its event loops and returns).
final class TableListeners: Sendable {
    private let listeners = Mutex<[@Sendable (RoutingTable) -> Void]>([])

    init() {}

    func add(_ listener: @escaping @Sendable (RoutingTable) -> Void) {
        listeners.withLock { $0.append(listener) }
    }

    func notify(_ table: RoutingTable) {
        for listener in listeners.withLock({ $0 }) { listener(table) }
    }
}

extension GatewayLoop {
    /// The drain orders the gossip service holds, as the table reads them; an order whose operator key the roster
    /// in force no longer lists stops counting at once, as a digest does. Sets the drain metric on the way.
    func drainsInForce(nowMillis: UInt64) async -> [OperatorDrain] {
        let held = await mesh.gossip.drains()
        ZoneMetrics.drains.update(held, nowMillis: nowMillis)
        return Self.trustedDrains(held, roster: mesh.keys.currentRoster)
    }

    static func trustedDrains(_ held: [SignedDrain], roster: TrustRoster) -> [OperatorDrain] {
        held.filter { roster.operatorKey($0.keyID) != nil }.map { OperatorDrain(record: $0.drain, operatorKeyID: "\($0.keyID)") }
    }

    /// The digests the trust roster in force still trusts, and per cluster why the others no longer count. A digest
    /// verified under an older roster stays in the gossip store until its origin sends a newer one; once the roster
    /// drops its key it must stop vouching at once, and the table must say why its cluster lost its weight.
    static func trustedDigests(_ signed: [SignedDigest], roster: TrustRoster)
        -> (trusted: [HealthDigest], distrusted: [String: String], rejected: Set<String>)
    {
        var trusted: [HealthDigest] = []
        var dropped: [String: [String]] = [:]
        var rejected: Set<String> = []
        for s in signed {
            let cluster = s.digest.origin.cluster
            if roster.key(s.keyID, forCluster: cluster) != nil {
                trusted.append(s.digest)
            } else {
                dropped[cluster, default: []].append("\(s.digest.origin.name) (key \(s.keyID))")
                rejected.insert("\(s.digest.origin.name) \(s.digest.order)")
            }
        }
        let notes = dropped.mapValues { origins in
            "the trust roster no longer trusts the key that signs the digests of \(origins.sorted().joined(separator: ", "))"
        }
        return (trusted, notes, rejected)
    }
}
