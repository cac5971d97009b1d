// gossip-node: one zone-agent gossip member and nothing else, for side-by-side runs against Serf
// (bench/serf-compare.sh) and multi-process tests. Not for production: its cluster keys are derived from the
// cluster names, so anyone can forge them.
//
// Usage: gossip-node --name NAME --bind HOST:PORT [--cluster c0] [--join HOST:PORT]... [--profile lan|fast|wan]
//                    [--mesh-key BASE64] [--status-ms N]
// Prints one line per membership change: `<unix-ms> <observer> <member> <state>`; leaves gracefully on SIGTERM/SIGINT.
// With --status-ms, also `<unix-ms> <observer> status health=H received=N dropped=reason:count,...` every N ms.
//
//        gossip-node flood --from HOST --to HOST:PORT --mode random|replay [--seconds 10] [--mesh-key BASE64]
// Floods one member from one UDP socket as fast as it goes (make adversarial): random 150-byte datagrams, or
// replays of 64 datagrams sealed once with the mesh key (what a wire capture of a member's pings holds). Prints
// `flood <mode> sent=N seconds=S rate=R`.

import Foundation
import Gossip
import GossipNIO
import Logging
import MeshCrypto
import ServiceLifecycle
import Wire

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("gossip-node: \(message)\n".utf8))
    exit(64)
}

if CommandLine.arguments.dropFirst().first == "flood" {
    Flood.main(Array(CommandLine.arguments.dropFirst(2)))
}

var name = ""
var cluster = "c0"
var meshKey: MeshKey?
var statusMillis = 0
var bind = ""
var joins: [String] = []
var profile = GossipProfile.lan
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let flag = arguments.next() {
    guard let value = arguments.next() else { fail("\(flag) needs a value") }
    switch flag {
    case "--name": name = value
    case "--cluster": cluster = value
    case "--bind": bind = value
    case "--join": joins.append(value)
    case "--mesh-key":
        guard let key = MeshKey(base64: value) else { fail("--mesh-key must be a base64 32-byte key") }
        meshKey = key
    case "--status-ms":
        guard let ms = Int(value), ms > 0 else { fail("--status-ms must be a positive number of milliseconds") }
        statusMillis = ms
    case "--profile":
        guard let p = GossipProfile(rawValue: value) else { fail("--profile must be lan, fast or wan") }
        profile = p
    default: fail("unknown flag \(flag)")
    }
}
guard !name.isEmpty, let colon = bind.lastIndex(of: ":"), let port = Int(bind[bind.index(after: colon)...]) else {
    fail("usage: gossip-node --name NAME --bind HOST:PORT [--cluster c0] [--join HOST:PORT]... [--profile lan|fast|wan]")
}

/// A demo key per cluster id `c0`…`c7`, derived from its index: every node can verify every other.
func demoKey(_ index: Int) -> SigningKeyPair {
    guard let key = try? SigningKeyPair(seed: [UInt8](repeating: UInt8(100 + index), count: 32)) else { fail("libsodium failed") }
    return key
}
let clusters = (0..<8).map { "c\($0)" }
guard let clusterIndex = clusters.firstIndex(of: cluster) else { fail("--cluster must be one of c0…c7") }
let roster = TrustRoster(Dictionary(uniqueKeysWithValues: clusters.enumerated().map { ($1, [demoKey($0).publicKey]) }))

LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .warning
    return handler
}
let logger = Logger(label: "gossip-node")
let service = GossipService(
    settings: GossipSettings(profile: profile),
    transport: GossipTransportSettings(bindHost: String(bind[..<colon]), bindPort: port, seeds: joins,
                                       keyring: meshKey.map { Keyring(primary: $0, meshName: "gossip-node") }),
    identity: MemberIdentity(name: name, cluster: cluster, generation: GossipService.freshGeneration()),
    signer: demoKey(clusterIndex), verifier: RecordVerifier(roster: roster), logger: logger)

/// Prints membership changes as they happen.
struct EventPrinter: Service {
    let service: GossipService
    let name: String
    func run() async throws {
        for await event in service.events.cancelOnGracefulShutdown() {
            guard case .memberChanged(let member, _) = event else { continue }
            let ms = UInt64(Date().timeIntervalSince1970 * 1000)
            // Unbuffered, so a script reading the output sees each change at once.
            FileHandle.standardOutput.write(Data("\(ms) \(name) \(member.name) \(member.state)\n".utf8))
        }
    }
}

/// Prints the member's local health and drop counters now and then.
struct StatusPrinter: Service {
    let service: GossipService
    let name: String
    let every: Duration
    func run() async throws {
        try await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: every)
                let counters = await service.currentCounters()
                let health = await service.localHealthScore()
                let dropped = counters.dropped.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: ",")
                let ms = UInt64(Date().timeIntervalSince1970 * 1000)
                FileHandle.standardOutput.write(Data("\(ms) \(name) status health=\(health) received=\(counters.packetsReceived) dropped=\(dropped)\n".utf8))
            }
        }
    }
}

var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: service), .init(service: EventPrinter(service: service, name: name))]
if statusMillis > 0 { services.append(.init(service: StatusPrinter(service: service, name: name, every: .milliseconds(statusMillis)))) }
let group = ServiceGroup(configuration: .init(
    services: services,
    gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
try await group.run()
