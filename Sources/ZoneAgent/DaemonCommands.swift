import ArgumentParser
import Foundation
import GatewayHTTP
import Gossip
import GossipNIO
import KubernetesDiscovery
import Logging
import ServiceLifecycle
import WeightTable

/// `zone-agent agent`: the cluster agent, one per node.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run a cluster agent until SIGTERM/SIGINT, then leave the mesh gracefully.")

    @Option(help: "The configuration file (YAML).")
    var config: String

    @Option(help: "Log lines as text (the default) or json, one object a line for log shippers (default: $LOG_FORMAT, then text).")
    var logFormat: LogFormat?

    func run() async throws {
        let logger = LogSetup.bootstrap(format: logFormat ?? .fromEnvironment)
        let mesh = try Daemon.mesh(configPath: config, role: .agent, logger: logger)
        ZoneMetrics.startAgent()
        let loop = AgentLoop(mesh: mesh)
        await loop.setConfigured(mesh.config.endpoints.staticList.map(ProbeTarget.init))
        let reloader = LiveReload.agent(mesh, loop: loop)
        var services: [any Service] = [mesh.gossip, LiveReload.watchService(reloader)]
        if let watcher = Daemon.endpointSliceWatcher(mesh) {
            services.append(TaskService("endpoint discovery") {
                try await cancelWhenGracefulShutdown {
                    try await watcher.run { found in await loop.setDiscovered(found.values.joined().map(ProbeTarget.init)) }
                }
            })
        }
        services.append(TaskService("mesh events") {
            // The event stream ends only when gossip stops, which is last: stop reading on graceful shutdown instead.
            await cancelWhenGracefulShutdown { await Daemon.consumeEvents(mesh, digestsMatter: false) { _ in await loop.membershipChanged() } }
        })
        services.append(TaskService("probes") { try await cancelWhenGracefulShutdown { try await loop.runProbes() } })
        services.append(Daemon.gossipCounters(mesh))
        services += Daemon.adminService(mesh, table: nil, readiness: Readiness.all([Readiness.agent(mesh), { await mesh.gossip.transportProblem() }]), probeStall: { await loop.probeLoopProblem() })
        try await Daemon.run(services, logger: logger, name: "agent \(mesh.identity.name) of cluster \(mesh.identity.cluster)",
                             onHangup: LiveReload.hangup(reloader))
    }
}

/// `zone-agent gateway`: the gateway-side agent beside a gateway.
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Run the gateway-side agent: join the mesh, keep the weighted table, feed the proxy and outputs.")

    @Option(help: "The configuration file (YAML).")
    var config: String

    @Option(help: "Log lines as text (the default) or json, one object a line for log shippers (default: $LOG_FORMAT, then text).")
    var logFormat: LogFormat?

    func run() async throws {
        let logger = LogSetup.bootstrap(format: logFormat ?? .fromEnvironment)
        let mesh = try Daemon.mesh(configPath: config, role: .gateway, logger: logger)
        let routes = mesh.config.routes?.routes ?? []
        ZoneMetrics.startGateway()
        ZoneMetrics.table.declare(routes: routes)
        let loop = GatewayLoop(mesh: mesh, routes: routes, policy: mesh.config.failover.policy)
        let pickers = loop.pickers
        let reloader = LiveReload.gateway(mesh, loop: loop)
        var services: [any Service] = [mesh.gossip, LiveReload.watchService(reloader)]
        if let watched = mesh.config.routes?.kubernetes { services.append(LiveReload.ingressService(watched, mesh: mesh, loop: loop)) }
        services.append(TaskService("mesh events") {
            await cancelWhenGracefulShutdown { await Daemon.consumeEvents(mesh, digestsMatter: true) { await loop.apply($0) } }
        })
        services.append(TaskService("table timers") { try await cancelWhenGracefulShutdown { try await loop.runTimers() } })
        services.append(TaskService("outputs") { await cancelWhenGracefulShutdown { await loop.runOutputs() } })
        services.append(Daemon.gossipCounters(mesh))
        let status = loop.status
        services.append(TaskService("share history") { try await cancelWhenGracefulShutdown { try await status.sampleShares { pickers.load().table } } })
        services += Daemon.adminService(mesh, table: { pickers.load().table }, readiness: Readiness.all([Readiness.gateway { pickers.load().table }, { await mesh.gossip.transportProblem() }]),
                                        status: status)
        if let listen = mesh.config.proxyListen {
            let limits = mesh.config.proxy
            let selector = TableSelector(tally: status.tally, pinning: limits.pinHeader != nil)
            let proxy = WeightedProxy(
                configuration: .init(
                    host: listen.host, port: listen.port, connectTimeout: limits.connectTimeout, responseTimeout: limits.responseTimeout,
                    clientIdleTimeout: limits.idleTimeout, requestHeaderTimeout: limits.requestHeaderTimeout,
                    requestBodyTimeout: limits.requestBodyTimeout, maxConnections: limits.maxConnections,
                    perTryTimeout: limits.perTryTimeout, resendAlso: limits.retryNonIdempotent, pinHeader: limits.pinHeader),
                selector: selector,
                hooks: await GatewayFeatures.hooks(mesh, loop: loop, base: ProxyMetrics(registry: ZoneMetrics.registry, clusters: mesh.config.keys.roster.clusters).hooks()),
                logger: logger)
            loop.published.add { table in proxy.tablePublished(live: selector.publish(table)) }
            // Last in the group, so first to stop: in-flight requests drain while the table is still served.
            services.append(TaskService("proxy") {
                // A (re)started gateway must not answer 503 while it relearns the mesh, nor route to a drained cluster
                // before it has heard the order: it listens once its table is ready (``Daemon/readyToServe``), or after
                // a grace, so that a mesh that is really down gets a clear 503, not a refused connection.
                let grace = ContinuousClock.now + Daemon.proxyStartGrace
                while ContinuousClock.now < grace, await !Daemon.readyToServe(selector.table, mesh: mesh) {
                    try await Task.sleep(for: .milliseconds(20))
                }
                // WeightedProxy logs "proxy listening" with its limits.
                let bound = try await proxy.start()
                try? await gracefulShutdown()
                await bound.shutdown(gracePeriod: .seconds(2))
            })
        }
        logger.info("routes", metadata: ["count": "\(routes.count)", "routes": "\(routes.map(\.id))"])
        try await Daemon.run(services, logger: logger, name: "gateway \(mesh.identity.name)", onHangup: LiveReload.hangup(reloader))
    }
}

/// What the two daemons share: loading, the admin server, the event fan-out and the service group.
enum Daemon {
    /// How long a starting gateway waits for a table that can serve before its proxy listens anyway: a state sync
    /// with a seed takes one round trip, so a live mesh needs well under a second.
    static let proxyStartGrace: Duration = .seconds(10)

    /// Whether a starting gateway's table may take traffic: some route can be served; with seeds to join, one state
    /// sync has completed (it carries every drain order the mesh holds, where gossip alone may bring a digest first);
    /// and the table holds each drain in force.
    static func readyToServe(_ table: RoutingTable, mesh: MeshRuntime) async -> Bool {
        guard table.routes.contains(where: \.canServe) else { return false }
        if !mesh.config.gossip.join.isEmpty, await mesh.gossip.currentCounters().syncsCompleted == 0 { return false }
        let drains = GatewayLoop.trustedDrains(await mesh.gossip.drains(), roster: mesh.keys.currentRoster)
        return table.holds(drains, nowMillis: wallClockMillis())
    }

    static func mesh(configPath: String, role: Role, logger: Logger) throws -> MeshRuntime {
        do {
            let config = try Config.load(path: configPath, role: role)
            return try MeshRuntime(config: config, logger: logger)
        } catch {
            exitWithConfigError(error)
        }
    }

    static func exitWithConfigError(_ error: any Error) -> Never {
        printError("zone-agent: \(error)")
        Foundation.exit(ExitStatus.configuration)
    }

    /// The EndpointSlice watcher for `endpoints.kubernetes.services`, connected with the pod's service account.
    static func endpointSliceWatcher(_ mesh: MeshRuntime) -> EndpointSliceWatcher? {
        let names = mesh.config.endpoints.kubernetesServices
        guard !names.isEmpty else { return nil }
        do {
            let services = try names.map { name throws(KubernetesDiscoveryError) in try ServiceRef(parsing: name) }
            // `ZONE_AGENT_SERVICE_ACCOUNT_DIR`: the token and CA of an agent run outside a pod (development, tests).
            let environment = ProcessInfo.processInfo.environment
            let connection = try KubernetesConnection.inCluster(
                serviceAccountDirectory: environment["ZONE_AGENT_SERVICE_ACCOUNT_DIR"] ?? KubernetesConnection.serviceAccountDirectory)
            return EndpointSliceWatcher(connection: connection, services: services, logger: mesh.logger)
        } catch {
            exitWithConfigError(ConfigError(file: mesh.config.file, key: "endpoints.kubernetes", problem: "\(error)"))
        }
    }

    /// Copies the gossip transport's counters into metrics every two seconds.
    static func gossipCounters(_ mesh: MeshRuntime) -> any Service {
        TaskService("gossip counters") {
            try await cancelWhenGracefulShutdown {
                var previous = GossipCounters()
                while !Task.isCancelled {
                    let now = await mesh.gossip.currentCounters()
                    ZoneMetrics.gossip.add(now, since: previous)
                    previous = now
                    try await Task.sleep(for: .seconds(2))
                }
            }
        }
    }

    static func adminService(_ mesh: MeshRuntime, table: (@Sendable () -> RoutingTable)?, readiness: @escaping Readiness.Check,
                             probeStall: (@Sendable () async -> String?)? = nil, status: GatewayStatus? = nil) -> [any Service] {
        guard let listen = mesh.config.adminListen else { return [] }
        let admin = mesh.config.admin
        let api = AdminAPI(mesh: mesh, table: table, gossipStall: { .now - (await mesh.gossip.lastTickAt()) }, readiness: readiness,
                           access: AdminAccess(token: admin.token, metricsPublic: admin.token == nil || admin.metricsPublic),
                           probeStall: probeStall, status: status)
        if admin.token == nil && !(listen.host.hasPrefix("127.") || ["::1", "localhost"].contains(listen.host)) {
            mesh.logger.warning("the admin API listens on \(listen) without admin.token: whoever reaches it reads the mesh; set admin.token: FILE")
        }
        // Bodies are small: the only one taken is a drain order (``AdminDrains``).
        let server = HTTPServer(configuration: .init(host: listen.host, port: listen.port, maxRequestBodySize: 16 << 10), logger: mesh.logger) { request in
            await api.handle(request)
        }
        return [TaskService("admin") {
            let bound = try await server.start()
            mesh.logger.info("admin API listening", metadata: ["address": "\(bound.localAddress)"])
            try? await gracefulShutdown()
            await bound.shutdown(gracePeriod: .milliseconds(500))
        }]
    }

    /// Reads the gossip events: metrics for all of them, and `onChange` for every member change, and for every
    /// new digest too when `digestsMatter` (the gateway; an agent's probe share depends on membership only);
    /// once with nil first, before any event.
    static func consumeEvents(_ mesh: MeshRuntime, digestsMatter: Bool, onChange: @Sendable (GossipEvent?) async -> Void) async {
        await onChange(nil)
        for await event in mesh.gossip.events {
            switch event {
            case .memberChanged(let member, let previous) where previous == member.state:
                // No transition: a doubtful suspicion was confirmed (`MemberSnapshot.doubtful`).
                if !digestsMatter { continue }
            case .memberChanged(let member, let previous):
                ZoneMetrics.mesh.memberChanged(member, previous: previous, now: .now)
                if member.state != .alive || previous == nil || previous != .suspect {
                    mesh.logger.info("member \(member.state)", metadata: [
                        "member": "\(member.name)", "cluster": "\(member.identity.cluster)",
                        "incarnation": "\(member.incarnation)", "was": "\(previous.map(\.rawValue) ?? "unknown")",
                        "doubtful": "\(member.doubtful)",
                    ])
                }
                var counts = Dictionary(grouping: await mesh.gossip.members(), by: \.state.rawValue).mapValues(\.count)
                counts["alive", default: 0] += 1   // this member
                ZoneMetrics.mesh.membersByState(counts)
            case .digestAccepted(let signed, let missed):
                ZoneMetrics.mesh.digestAccepted(signed.digest, missedByGossip: missed, receivedAtMillis: wallClockMillis())
                if !digestsMatter { continue }
            case .drainAccepted(let signed):
                mesh.logger.notice("drain order accepted", metadata: [
                    "cluster": "\(signed.drain.cluster)", "route": "\(signed.drain.route.isEmpty ? "*" : signed.drain.route)",
                    "until": "\(signed.drain.untilMillis)", "undrain": "\(signed.drain.isUndrain)", "operator": "\(signed.keyID)",
                ])
                if !digestsMatter { continue }
            case .recordRejected(let rejection):
                ZoneMetrics.mesh.recordRejected(reason: rejection.reason)
                mesh.logger.warning("record rejected", metadata: ["reason": "\(rejection)"])
                continue
            case .nameConflict(let conflict):
                ZoneMetrics.mesh.nameConflicts.increment()
                mesh.logger.error("member name started twice", metadata: ["conflict": "\(conflict)"])
                continue
            case .cutOff:
                // Logged by the gossip service; it matters to the gateway's table only.
                if !digestsMatter { continue }
            }
            await onChange(event)
        }
    }

    /// Runs the services as one group that stops in reverse order on SIGTERM or SIGINT.
    /// SIGHUP's default action ends the process, and operators send it to reload, as they reload nginx or HAProxy:
    /// it is caught and handed to `reload`.
    static func onHangup(logger: Logger, reload: @escaping @Sendable () -> Void) -> any DispatchSourceSignal {
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler {
            logger.info("SIGHUP received: reloading the configuration")
            reload()
        }
        source.resume()
        return source
    }

    static func run(_ services: [any Service], logger: Logger, name: String, onHangup reload: @escaping @Sendable () -> Void) async throws {
        var configuration = ServiceGroupConfiguration(
            services: services.map { .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup,
                                           failureTerminationBehavior: .gracefullyShutdownGroup) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        // Past this, shutdown escalates to cancellation: the contract wants an exit within 5 s of SIGTERM.
        configuration.maximumGracefulShutdownDuration = .seconds(4)
        logger.info("starting \(name)", metadata: ["version": "\(ZoneAgentVersion.current)"])
        let hangup = onHangup(logger: logger, reload: reload)
        defer { hangup.cancel() }
        do {
            try await ServiceGroup(configuration: configuration).run()
        } catch {
            printError("zone-agent: \(error)")
            throw ExitCode(1)
        }
        logger.info("stopped \(name)")
    }
}

/// `zone-agent backend`: a tiny HTTP backend for demos and drills.
struct BackendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backend",
        abstract: "Serve a tiny HTTP backend: GET /healthz answers 200, every other path answers NAME.")

    @Option(help: "The name every answer carries (the seed demo's web-demo).")
    var name: String

    @Option(help: "The address to listen on, host:port.")
    var listen: String

    func validate() throws {
        guard HostPort(listen) != nil else { throw ValidationError("--listen \(listen) is not a host:port address") }
    }

    func run() async throws {
        let address = HostPort(listen)!
        let backend = DemoBackend(name: name, host: address.host, port: address.port)
        do { try await backend.run() } catch {
            printError("zone-agent backend: \(error)")
            throw ExitCode(1)
        }
    }
}
