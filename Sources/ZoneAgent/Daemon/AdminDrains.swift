import Foundation
import GatewayHTTP
import Gossip
import NIOCore
import NIOHTTP1
import Wire
import WeightTable

/// `POST /v1/drains` and `GET /v1/drains`: an operator's signed drain order handed to the mesh through this member,
/// and the orders the mesh holds.
///
/// The body of a POST is the order exactly as gossip carries it (one `drain` message in a packet, made and signed by
/// `zone-agent drain`), so the operator's secret key never reaches a member and the member checks the same bytes
/// every other member will: the signature against the roster's `operators`, then the newest-wins rule.
enum AdminDrains {
    /// The largest body taken: an order is about 130 bytes, its strings at most 253 each.
    static let maxBodyBytes = 2048

    /// `routes`: the route ids of the gateway's table, to refuse a drain of a route it does not have; nil on an agent,
    /// which has no routes to check against.
    static func post(_ request: HTTPServerRequest, mesh: MeshRuntime, routes: [String]? = nil) async -> HTTPServerResponse {
        guard request.body.readableBytes <= maxBodyBytes else {
            return HTTPServerResponse(status: .payloadTooLarge, text: "a drain order is at most \(maxBodyBytes) bytes\n")
        }
        let signed: SignedDrain
        do {
            signed = try SignedDrain.decode(packet: Array(request.body.readableBytesView))
        } catch {
            return HTTPServerResponse(status: .badRequest, text: "not a signed drain order (make one with `zone-agent drain`): \(error)\n")
        }
        // A typo must not pass for a drain: only a cluster the roster knows can be drained here.
        guard mesh.keys.currentRoster.contains(cluster: signed.drain.cluster) else {
            return HTTPServerResponse(status: .badRequest, text: "cluster \(signed.drain.cluster) is not in the trust roster (clusters: \(mesh.keys.currentRoster.clusters.joined(separator: ", ")))\n")
        }
        // Likewise a route id: a drain of a route nobody has would change nothing. An undrain is let through, so an order
        // for a route since removed can still be ended.
        let route = signed.drain.route
        if let routes, !route.isEmpty, !signed.drain.isUndrain, !routes.contains(route) {
            let known = routes.isEmpty ? "none" : routes.sorted().joined(separator: ", ")
            return HTTPServerResponse(status: .badRequest, text: "route \(route) is not a route of this gateway (routes, as `zone-agent table` prints them: \(known))\n")
        }
        guard let outcome = await mesh.gossip.inject(signed) else {
            return HTTPServerResponse(status: .serviceUnavailable, text: "the gossip service is not running yet; try again\n")
        }
        let d = signed.drain
        switch outcome {
        case .accepted:
            mesh.logger.notice("drain order taken from the admin API", metadata: [
                "cluster": "\(d.cluster)", "route": "\(d.route.isEmpty ? "*" : d.route)", "operator": "\(signed.keyID)",
                "until": "\(Timestamp.iso8601(millis: d.untilMillis))", "undrain": "\(d.isUndrain)",
            ])
            let what = d.isUndrain ? "undrain of \(d.target)" : "drain of \(d.target) until \(Timestamp.iso8601(millis: d.untilMillis))"
            return HTTPServerResponse(status: .ok, text: "\(what) accepted by \(mesh.identity.name); spreading to the mesh\n")
        case .superseded:
            return HTTPServerResponse(status: .conflict, text: "a newer order for \(d.target) is in force already (or this one has ended); nothing changed\n")
        case .rejected(let rejection):
            switch rejection {
            case .untrustedOperator, .badSignature:
                return HTTPServerResponse(status: .forbidden, text: "refused: \(rejection)\n")
            default:
                return HTTPServerResponse(status: .badRequest, text: "refused: \(rejection)\n")
            }
        }
    }

    static func list(mesh: MeshRuntime) async -> HTTPServerResponse {
        let now = wallClockMillis()
        let document = DrainsDocument(drains: await mesh.gossip.drains(), nowMillis: now)
        return AdminAPI.json(document, path: "/v1/drains", logger: mesh.logger)
    }
}

/// `/v1/drains`: every order the member holds, in force or not.
struct DrainsDocument: Codable, Equatable {
    struct Order: Codable, Equatable {
        var cluster: String
        /// The route id, or `*` for every route.
        var route: String
        var issuedAt: String
        var until: String
        /// The operator key's id.
        var `operator`: String
        /// `drained` while it holds, `ended` after its time, `undrain` for an order that gives the share back.
        var state: String
    }

    var now: String
    var drains: [Order]

    init(drains: [SignedDrain], nowMillis: UInt64) {
        now = Timestamp.iso8601(millis: nowMillis)
        self.drains = drains.map { s in
            let d = s.drain
            return Order(cluster: d.cluster, route: d.route.isEmpty ? "*" : d.route, issuedAt: Timestamp.iso8601(millis: d.issuedAtMillis),
                         until: Timestamp.iso8601(millis: d.untilMillis), operator: "\(s.keyID)",
                         state: d.isUndrain ? "undrain" : d.isInForce(atMillis: nowMillis) ? "drained" : "ended")
        }
    }
}
