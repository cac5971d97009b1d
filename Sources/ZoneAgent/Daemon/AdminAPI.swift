import Foundation
import GatewayHTTP
import Gossip
import NIOCore
import NIOHTTP1
import WeightTable

/// The admin HTTP API of both roles (CONTRACT.md): `/healthz`, `/readyz`, `/v1/members`, `/metrics`, and on the
/// gateway `/v1/table` and the status page `/`. With a token configured, ``AdminAccess`` guards all but the probes.
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

    func handle(_ request: HTTPServerRequest) async -> HTTPServerResponse {
        // Before anything else: a caller without the token learns nothing, not even which methods exist.
        if let refusal = access.refusal(for: request) { return refusal }
        guard request.method == .GET || request.method == .HEAD else {
            return HTTPServerResponse(status: .methodNotAllowed, text: "the admin API is read-only\n")
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
            return json(try? JSONSerialization.data(withJSONObject: await membersJSON(), options: [.sortedKeys]))
        case "/metrics":
            var response = HTTPServerResponse(status: .ok, body: ByteBuffer(bytes: ZoneMetrics.registry.emitToBuffer()))
            response.headers.add(name: "content-type", value: "text/plain; version=0.0.4; charset=utf-8")
            return response
        case "/v1/table":
            guard let table else { return HTTPServerResponse(status: .notFound, text: "an agent has no routing table; ask the gateway\n") }
            return json(Data(TableJSON.encode(table(), pretty: true)))
        case "/":
            guard let table else {
                return HTTPServerResponse(status: .ok, text: "zone-agent agent \(mesh.identity.name) of cluster \(mesh.identity.cluster): see /v1/members and /metrics\n")
            }
            let html = StatusPage.render(self: mesh.identity.name, members: await mesh.allMembers(), table: table())
            return HTTPServerResponse(status: .ok, text: html, contentType: "text/html; charset=utf-8")
        default:
            return HTTPServerResponse(status: .notFound, text: "no such admin path: \(request.path)\n")
        }
    }

    func membersJSON() async -> [String: Any] {
        let members = await mesh.allMembers().map { m -> [String: Any] in
            ["node": m.name, "cluster": m.identity.cluster, "zone": m.identity.zone, "address": m.address.description,
             "state": m.state.rawValue, "incarnation": m.incarnation, "generation": m.identity.generation]
        }
        return ["self": mesh.identity.name, "members": members]
    }

    private func json(_ data: Data?) -> HTTPServerResponse {
        guard let data else { return HTTPServerResponse(status: .internalServerError, text: "cannot encode JSON\n") }
        var response = HTTPServerResponse(status: .ok, body: ByteBuffer(bytes: data))
        response.headers.add(name: "content-type", value: "application/json")
        return response
    }
}
