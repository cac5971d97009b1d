import GatewayHTTP
import Gossip
import GossipNIO
import Logging
import NIOPosix
import Synchronization
import Wire
import WeightTable

/// The gateway's own work: rebuild the weight table whenever the mesh changes (or a hold-down or ramp step is
/// due), publish it atomically to the proxy, and push it to the configured outputs.
actor GatewayLoop {
    private let mesh: MeshRuntime
    private let routes: [RouteSpec]
    private let policy: TablePolicy
    let pickers: PickerBox
    /// Told of every table right after the pickers have it (the built-in proxy re-sends requests in
    /// flight to endpoints the table dropped).
    let published = TableListeners()
    private var state = TableState()
    private var hadContact = false
    /// Envoy and HAProxy, kept in step with the table and retried until they are.
    let outputs: OutputSync
    private var rebuilding = false
    private var rebuildAgain = false
    private var logger: Logger

    init(mesh: MeshRuntime, routes: [RouteSpec], policy: TablePolicy = TablePolicy()) {
        self.mesh = mesh
        self.routes = routes
        self.policy = policy
        self.pickers = PickerBox(EndpointPicker(table: .empty))
        var outputs: [TableOutput] = []
        if let envoy = mesh.config.outputs.envoyDirectory.map(EnvoyEDSOutput.init(directory:)) {
            outputs.append(TableOutput(name: "envoy") { try envoy.write($0) })
        }
        if let haproxy = mesh.config.outputs.haproxy.map({
            HAProxyRuntimeOutput(socketPath: $0.socket, backend: $0.backend, serverPrefix: $0.serverPrefix,
                                 service: $0.service, group: MultiThreadedEventLoopGroup.singleton)
        }) {
            outputs.append(TableOutput(name: "haproxy") { try await haproxy.apply($0) })
        }
        self.outputs = OutputSync(outputs: outputs, logger: mesh.logger)
        self.logger = mesh.logger
    }

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

    /// Rebuilds the table from the current membership and digests.
    private func rebuild() async {
        let members = await mesh.gossip.members()
        let digests = await mesh.gossip.digests().map(\.digest)
        let active = members.filter(\.state.isActive)
        if !active.isEmpty { hadContact = true }
        // Isolated: we heard from the mesh before and now hear from nobody. Then the failure is ours, not the
        // clusters', and the last good table is kept.
        let isolated = hadContact && active.isEmpty
        // Only an alive agent vouches. Waiting for `dead` would add the whole suspicion timeout to every failover;
        // a false suspicion moves traffic only if every agent of a cluster is suspected at once, and the
        // failback hold-down damps that blip.
        let (views, vouching) = Self.vouchingInputs(members: members, digests: digests)
        let inputs = TableInputs(routes: routes, members: views, digests: vouching, isolated: isolated, wallClockMillis: wallClockMillis())
        let previousVersion = state.version
        let previouslyExpired = state.expiredOrigins
        let built = TableBuilder.build(inputs, state: state, policy: policy, now: .now)
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
        published.notify(built.table)
        for change in state.latestChanges {
            ZoneMetrics.routingChange()
            logger.notice("routing change", metadata: [
                "route": "\(change.route)", "cluster": "\(change.cluster)", "from": "\(change.from)", "to": "\(change.to)",
                "reason": "\(change.reason)",
            ])
        }
        ZoneMetrics.table(version: built.table.version, weights: built.table.routes.flatMap { route in
            route.clusters.map { (route: route.spec.id, cluster: $0.cluster, weight: $0.effectiveWeight) }
        })
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
            let wake = Self.nextWake(rebuildAt: state.nextRebuildAt, leaseExpiryMillis: state.nextLeaseExpiryMillis,
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
