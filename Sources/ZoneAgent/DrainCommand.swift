import ArgumentParser
import AsyncHTTPClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import MeshCrypto
import NIOCore
import NIOHTTP1
import Wire
import WeightTable

/// What `drain` and `undrain` share: where the gateway is, its admin token, the operator key, the target.
struct DrainOptions: ParsableArguments {
    @Option(help: "The gateway's admin URL (any gateway or agent of the mesh: the order spreads to every member).")
    var admin = "http://127.0.0.1:9101"

    @Option(help: "A file holding the admin API's bearer token (mode 600), when the gateway sets admin.token; else $ZONE_AGENT_ADMIN_TOKEN.")
    var tokenFile: String?

    @Option(help: "The operator's secret key (from `zone-agent keygen --operator`, mode 600); its public key must be in trust.yaml `operators`.")
    var operatorKey: String

    @Option(help: "The cluster to drain or give back.")
    var cluster: String

    @Option(help: "Only this route (its id as `zone-agent table` prints it, e.g. shop.example.com/); default every route.")
    var route = ""

    func validate() throws {
        guard ClusterName.isValid(cluster) else {
            throw ValidationError("--cluster \(cluster): a cluster id is 1-63 characters of a-z, 0-9, '-', '_' or '.'")
        }
        guard route.utf8.count <= 253 else { throw ValidationError("--route: at most 253 bytes") }
    }

    /// Signs `drain` with the operator key and posts it; prints the gateway's answer. Exits 1 on refusal.
    func send(_ drain: DrainRecord, command: String) async throws {
        let signer: SigningKeyPair
        do {
            signer = try KeyFiles.readSigningKey(path: operatorKey)
        } catch {
            printError("zone-agent \(command): \(error)")
            throw ExitCode(ExitStatus.configuration)
        }
        let signed = SignedDrain(signing: drain, with: signer)
        let url = admin.hasSuffix("/") ? admin + "v1/drains" : admin + "/v1/drains"
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/octet-stream")
        request.body = .bytes(ByteBuffer(bytes: signed.packet))
        do {
            if let token = try TableCommand.token(file: tokenFile) { request.headers.add(name: "authorization", value: "Bearer \(token)") }
        } catch {
            printError("zone-agent \(command): \(error)")
            throw ExitCode(ExitStatus.configuration)
        }
        let status: UInt
        let text: String
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
            status = response.status.code
            text = String(buffer: try await response.body.collect(upTo: 64 << 10))
        } catch {
            printError("zone-agent \(command): cannot reach \(url): \(error)")
            throw ExitCode(1)
        }
        if status == 401 {
            printError("zone-agent \(command): \(url) wants the admin token: pass --token-file FILE or set $ZONE_AGENT_ADMIN_TOKEN")
            throw ExitCode(1)
        }
        guard status == 200 else {
            printError("zone-agent \(command): \(url) answered \(status): \(text.split(separator: "\n").joined(separator: " "))")
            throw ExitCode(1)
        }
        print(text, terminator: text.hasSuffix("\n") ? "" : "\n")
    }
}

/// `zone-agent drain`: takes a cluster's share away on every gateway of the mesh until a time.
struct DrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain",
        abstract: "Move a cluster's share away on every gateway until the time runs out (or `undrain`).",
        discussion: """
        Signs a drain order with the operator key and hands it to a gateway's admin API (POST /v1/drains), which \
        checks it against trust.yaml `operators` and gossips it to every member: each gateway moves the cluster's \
        share to the others at once, as a failover would, and gives it back with the usual hold-down and slow start \
        when the time runs out. A restarted gateway learns the order back from the mesh.
        """
    )

    @OptionGroup var options: DrainOptions

    @Option(name: .customLong("for"), help: "How long, e.g. 30m, 2h, 90s (at most 7 days).")
    var duration: String

    func validate() throws {
        guard let d = DurationText.parse(duration), d > .zero else {
            throw ValidationError("--for \(duration): write a duration such as 30m, 2h or 90s")
        }
        guard d <= .milliseconds(Int64(DrainRules.maxDurationMillis)) else { throw ValidationError("--for \(duration): at most 7 days (168h)") }
    }

    func run() async throws {
        let d = DurationText.parse(duration)!
        let now = wallClockMillis()
        let millis = UInt64(d.components.seconds) * 1000 + UInt64(d.components.attoseconds / 1_000_000_000_000_000)
        try await options.send(DrainRecord(cluster: options.cluster, route: options.route, issuedAtMillis: now, untilMillis: now + millis),
                               command: "drain")
    }
}

/// `zone-agent undrain`: gives a drained cluster its share back before the drain's time runs out.
struct UndrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "undrain",
        abstract: "End a cluster's drain now: its share comes back with the usual hold-down and slow start.",
        discussion: "Without --route it ends the drain of every route of the cluster, route-scoped ones issued before it included."
    )

    @OptionGroup var options: DrainOptions

    func run() async throws {
        let now = wallClockMillis()
        try await options.send(DrainRecord(cluster: options.cluster, route: options.route, issuedAtMillis: now, untilMillis: now), command: "undrain")
    }
}
