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
    private var state = TableState()
    private var hadContact = false
    private let outputTables: AsyncStream<RoutingTable>
    private let outputQueue: AsyncStream<RoutingTable>.Continuation
    private var rebuilding = false
    private var rebuildAgain = false
    private let envoy: EnvoyEDSOutput?
    private let haproxy: HAProxyRuntimeOutput?
    private var logger: Logger

    init(mesh: MeshRuntime, routes: [RouteSpec], policy: TablePolicy = TablePolicy()) {
        self.mesh = mesh
        self.routes = routes
        self.policy = policy
        self.pickers = PickerBox(EndpointPicker(table: .empty))
        (outputTables, outputQueue) = AsyncStream.makeStream(of: RoutingTable.self, bufferingPolicy: .bufferingNewest(1))
        self.envoy = mesh.config.outputs.envoyDirectory.map(EnvoyEDSOutput.init(directory:))
        self.haproxy = mesh.config.outputs.haproxy.map {
            HAProxyRuntimeOutput(socketPath: $0.socket, backend: $0.backend, serverPrefix: $0.serverPrefix,
                                 service: $0.service, group: MultiThreadedEventLoopGroup.singleton)
        }
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
        let built = TableBuilder.build(inputs, state: state, policy: policy, now: .now)
        state = built.state
        guard built.table.version != previousVersion else { return }
        pickers.store(EndpointPicker(table: built.table))
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
        outputQueue.yield(built.table)
    }

    /// Pushes tables to Envoy and HAProxy as they come, skipping to the newest when one push is slow. Runs until
    /// shutdown even with no output configured: a service that returns stops the whole group.
    func runOutputs() async {
        for await table in outputTables { await pushOutputs(table) }
    }

    private func pushOutputs(_ table: RoutingTable) async {
        if let envoy {
            do { try envoy.write(table) } catch {
                ZoneMetrics.outputFailure("envoy")
                logger.error("envoy output failed", metadata: ["error": "\(error)"])
            }
        }
        if let haproxy {
            do { try await haproxy.apply(table) } catch {
                ZoneMetrics.outputFailure("haproxy")
                logger.error("haproxy output failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Wakes for hold-down ends and ramp steps, which change weights with no new mesh input.
    func runTimers() async throws {
        while !Task.isCancelled {
            let wake = state.nextRebuildAt.map { min($0, .now + .seconds(1)) } ?? .now + .seconds(1)
            try await Task.sleep(until: wake, clock: .continuous)
            scheduleRebuild()
        }
    }
}

/// Routes proxy requests through whichever picker the gateway published last.
struct TableSelector: UpstreamSelector {
    let pickers: PickerBox

    func route(host: String, path: String) -> Int? { pickers.load().route(host: host, path: path) }

    func pick(route: Int) -> Upstream? { pickers.load().pick(route: route).map(Self.upstream) }

    func pickRetry(route: Int, excluding: Upstream) -> Upstream? {
        let picked = PickedEndpoint(cluster: excluding.cluster, host: excluding.host, port: excluding.port)
        return pickers.load().pickRetry(route: route, excluding: picked).map(Self.upstream)
    }

    private static func upstream(_ e: PickedEndpoint) -> Upstream { Upstream(cluster: e.cluster, host: e.host, port: e.port) }
}
