import Foundation
import Gossip
import GossipNIO
import Logging
import MeshCrypto
import ServiceLifecycle
import Wire

/// What both roles share: the process's identity in the mesh and the gossip service that carries it.
struct MeshRuntime: Sendable {
    let config: Config
    let identity: MemberIdentity
    let gossip: GossipService
    let logger: Logger
    /// The trust roster and signing key in force; a reload replaces them here.
    let keys: LiveKeys

    /// Builds the gossip service from a validated configuration.
    init(config: Config, logger: Logger) throws(ConfigError) {
        self.config = config
        self.logger = logger
        let profile = config.gossip.profile
        keys = LiveKeys(roster: config.keys.roster, signing: config.role == .agent ? config.keys.signing : nil)
        identity = MemberIdentity(name: config.node, cluster: config.cluster, zone: config.zone,
                                  generation: GossipService.freshGeneration())
        var advertise: PeerAddress?
        if let a = config.gossip.advertise {
            guard let peer = PeerAddress(a.description) else {
                throw ConfigError(file: config.file, key: "gossip.advertise", problem: "`\(a)` must be a numeric IP address and port")
            }
            advertise = peer
        } else if ["0.0.0.0", "::"].contains(config.gossip.bind.host) {
            throw ConfigError(file: config.file, key: "gossip.advertise",
                              problem: "is required when gossip.bind listens on every interface (\(config.gossip.bind)): other members need an address that reaches this one; set it or $POD_IP")
        }
        let transport = GossipTransportSettings(
            bindHost: config.gossip.bind.host, bindPort: config.gossip.bind.port, advertise: advertise,
            seeds: config.gossip.join.map(\.description), keyring: config.keys.mesh)
        gossip = GossipService(
            settings: GossipSettings(profile: profile), transport: transport, identity: identity,
            signer: keys.signer,
            verifier: keys.verifier,
            logger: logger)
    }

    /// Every member the mesh knows, this one included, for the admin API and the status page.
    func allMembers() async -> [MemberSnapshot] {
        var members = await gossip.members()
        if let me = await gossip.selfSnapshot() { members.append(me) }
        return members.sorted { ($0.identity.cluster, $0.name) < ($1.identity.cluster, $1.name) }
    }
}

/// Wall-clock milliseconds since the Unix epoch: digest issue times and table timestamps.
func wallClockMillis() -> UInt64 { GossipService.wallClockMillis() }

/// A long-running part of the process given as a closure, so each role can assemble its `ServiceGroup`.
struct TaskService: Service, CustomStringConvertible {
    let description: String
    let body: @Sendable () async throws -> Void

    init(_ name: String, _ body: @escaping @Sendable () async throws -> Void) {
        self.description = name
        self.body = body
    }

    func run() async throws {
        do {
            try await body()
        } catch is CancellationError {
            // Stopped by graceful shutdown (`cancelWhenGracefulShutdown`): an orderly end, not a failure.
        }
    }
}

/// Sets up swift-log and swift-metrics once: one log line per event on stderr, as text or as JSON
/// (``LogFormat``), level from `$LOG_LEVEL` (default info); metrics into the Prometheus registry that `/metrics`
/// renders.
enum LogSetup {
    static func bootstrap(format: LogFormat = .text) -> Logger {
        let level = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap { label in
            switch format {
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            case .json:
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
        }
        // Metrics too, before anything records one: handles made before the bootstrap would stay no-ops.
        _ = ZoneMetrics.registry
        return Logger(label: "zone-agent")
    }
}
