import Foundation
import GatewayHTTP
import Gossip
import Logging
import NIOCore
import NIOHTTP1
import WeightTable

/// The admin HTTP API of both roles (CONTRACT.md): `/healthz`, `/readyz`, `/v1/members`, `/metrics`, `/v1/drains`
/// (``AdminDrains``), and on the gateway `/v1/table` and the status page `/`. With a token configured, ``AdminAccess`` guards all but the probes.
struct AdminAPI: Sendable {
    let mesh: MeshRuntime
    /// The gateway's current table; nil on an agent.
    let table: (@Sendable () -> RoutingTable)?
    /// Seconds since the gossip loop last made progress; `/healthz` fails when it stalls.
    let gossipStall: @Sendable () async -> Duration
    /// The role's readiness (``Readiness``): nil when ready, else the reason `/readyz` answers 503 with.
    var readiness: Readiness.Check = { nil }
    /// Which paths need the bearer token.
    var access = AdminAccess(token: nil, metricsPublic: true)
    /// An agent's probe-loop check (`AgentLoop.probeLoopProblem`): a reason makes `/healthz` fail.
    var probeStall: (@Sendable () async -> String?)?
    /// The gateway's share history and routing events for the status page; nil on an agent.
    var status: GatewayStatus?

    func handle(_ request: HTTPServerRequest) async -> HTTPServerResponse {
        // Before anything else: a caller without the token learns nothing, not even which methods exist.
        if let refusal = access.refusal(for: request) { return refusal }
        if request.path == "/v1/drains" {
            if request.method == .POST { return await AdminDrains.post(request, mesh: mesh, routes: table.map { $0().routes.map(\.spec.id) }) }
            if request.method == .GET { return await AdminDrains.list(mesh: mesh) }
            return HTTPServerResponse(status: .methodNotAllowed, text: "/v1/drains takes GET (list) and POST (a signed order from `zone-agent drain`)\n")
        }
        guard request.method == .GET || request.method == .HEAD else {
            return HTTPServerResponse(status: .methodNotAllowed, text: "the admin API is read-only but for POST /v1/drains\n")
        }
        switch request.path {
        case "/healthz":
            let stall = await gossipStall()
            if stall > .seconds(10) {
                return HTTPServerResponse(status: .serviceUnavailable, text: "gossip loop stalled for \(stall)\n")
            }
            if let problem = await probeStall?() { return HTTPServerResponse(status: .serviceUnavailable, text: problem + "\n") }
            return HTTPServerResponse(status: .ok, text: "ok\n")
        case "/readyz":
            if let reason = await readiness() {
                return HTTPServerResponse(status: .serviceUnavailable, text: "not ready: \(reason)\n")
            }
            return HTTPServerResponse(status: .ok, text: "ready\n")
        case "/v1/members":
            return Self.json(MembersDocument(self: mesh.identity.name, members: await mesh.allMembers()), path: "/v1/members", logger: mesh.logger)
        case "/metrics":
            var response = HTTPServerResponse(status: .ok, body: ByteBuffer(bytes: ZoneMetrics.render()))
            response.headers.add(name: "content-type", value: "text/plain; version=0.0.4; charset=utf-8")
            return response
        case "/v1/table":
            guard let table else { return HTTPServerResponse(status: .notFound, text: "an agent has no routing table; ask the gateway\n") }
            return Self.json(bytes: TableJSON.encode(table(), pretty: true))
        case "/":
            guard let table else {
                return HTTPServerResponse(status: .ok, text: "zone-agent agent \(mesh.identity.name) of cluster \(mesh.identity.cluster): see /v1/members and /metrics\n")
            }
            let current = table()
            let page = StatusPage.Inputs(
                gateway: mesh.identity.name, version: ZoneAgentVersion.current,
                startedAtMillis: status?.startedAtMillis ?? 0, nowMillis: wallClockMillis(), members: await mesh.allMembers(),
                digests: await mesh.gossip.digests().map(\.digest), table: current,
                history: status?.history.all() ?? [:], events: status?.events.entries ?? [], suspectsVouch: status?.suspectsVouch ?? false)
            return HTTPServerResponse(status: .ok, text: StatusPage.render(page), contentType: "text/html; charset=utf-8")
        default:
            return HTTPServerResponse(status: .notFound, text: "no such admin path: \(request.path)\n")
        }
    }

    /// `document` as JSON; a document that cannot be encoded is answered 500, logged and counted.
    static func json(_ document: some Encodable, path: String, logger: Logger) -> HTTPServerResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            return json(bytes: Array(try encoder.encode(document)))
        } catch {
            ZoneMetrics.admin.encodeFailures[path]?.increment()
            logger.error("cannot encode an admin document as JSON", metadata: ["path": "\(path)", "error": "\(error)"])
            return HTTPServerResponse(status: .internalServerError, text: "cannot encode \(path) as JSON: \(error)\n")
        }
    }

    private static func json(bytes: [UInt8]) -> HTTPServerResponse {
        var response = HTTPServerResponse(status: .ok, body: ByteBuffer(bytes: bytes))
        response.headers.add(name: "content-type", value: "application/json")
        return response
    }
}

/// `/v1/members` (CONTRACT.md): this member's name and every member the mesh knows, this one included.
struct MembersDocument: Codable, Equatable {
    struct Member: Codable, Equatable {
        var node: String
        var cluster: String
        var zone: String
        var address: String
        var state: String
        var incarnation: UInt64
        /// Which start of the process this is (new at every start): two entries of one name differ here.
        var generation: UInt64
    }

    var `self`: String
    var members: [Member]

    init(self name: String, members: [MemberSnapshot]) {
        self.`self` = name
        self.members = members.map {
            Member(node: $0.name, cluster: $0.identity.cluster, zone: $0.identity.zone, address: $0.address.description,
                   state: $0.state.rawValue, incarnation: $0.incarnation, generation: $0.identity.generation)
        }
    }
}
