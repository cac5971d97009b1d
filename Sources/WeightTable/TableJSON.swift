#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The `/v1/table` JSON of CONTRACT.md: encoding for the admin API and decoding for `zone-agent table`.
public enum TableJSON {
    /// Encodes `table` as the `/v1/table` document, keys sorted so equal tables give equal bytes.
    public static func encode(_ table: RoutingTable, pretty: Bool = false) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        // Every field is a plain string, number or boolean, so encoding cannot fail; an empty object is the
        // honest fallback should Foundation ever disagree.
        guard let data = try? encoder.encode(TableDocument(table)) else { return Array("{}".utf8) }
        return Array(data)
    }

    /// Decodes a `/v1/table` document, as `zone-agent table` fetches it from a running gateway.
    public static func decode(_ bytes: [UInt8]) throws -> RoutingTable {
        try JSONDecoder().decode(TableDocument.self, from: Data(bytes)).table()
    }
}

/// A `/v1/table` document that cannot be read.
public struct TableJSONError: Error, Sendable, CustomStringConvertible {
    /// What is wrong.
    public var description: String
}

struct TableDocument: Codable {
    var version: UInt64
    var hash: String
    var generatedAt: String
    var isolated: Bool
    var routes: [RouteDocument]
    var changes: [ChangeDocument]

    struct RouteDocument: Codable {
        var host: String
        var path: String
        var pathType: String
        var service: String
        var failStatic: Bool?
        /// The `whenNoneHealthy` rule in effect (`last-good`, `all`, `none`) while no cluster can serve; absent otherwise.
        var fallback: String?
        var clusters: [ClusterDocument]
        var endpoints: [EndpointDocument]
        /// Healthy endpoints of clusters with no weight now, which a pinned request may still reach; absent when none.
        var standby: [EndpointDocument]?
    }

    struct ClusterDocument: Codable {
        var cluster: String
        var configuredWeight: Int
        var effectiveWeight: Int
        var healthyEndpoints: Int
        var totalEndpoints: Int
        var state: String
        var reason: String
    }

    struct EndpointDocument: Codable {
        var cluster: String
        var address: String
        /// Percent of the route's traffic.
        var weight: Double
    }

    struct ChangeDocument: Codable {
        var at: String
        var route: String
        var cluster: String
        var from: Int
        var to: Int
        var reason: String
    }

    init(_ table: RoutingTable) {
        version = table.version
        hash = table.hash
        generatedAt = Timestamp.iso8601(millis: table.generatedAtMillis)
        isolated = table.isolated
        routes = table.routes.map { route in
            RouteDocument(
                host: route.spec.host, path: route.spec.path, pathType: route.spec.pathType.rawValue,
                service: route.spec.service, failStatic: route.failStatic, fallback: route.fallback?.rawValue,
                clusters: route.clusters.map {
                    ClusterDocument(cluster: $0.cluster, configuredWeight: $0.configuredWeight, effectiveWeight: $0.effectiveWeight,
                                    healthyEndpoints: $0.healthyEndpoints, totalEndpoints: $0.totalEndpoints,
                                    state: $0.state.rawValue, reason: $0.reason)
                },
                endpoints: route.endpoints.map { EndpointDocument(cluster: $0.cluster, address: $0.address, weight: $0.weightPercent) },
                standby: route.standby.isEmpty ? nil : route.standby.map { EndpointDocument(cluster: $0.cluster, address: $0.address, weight: 0) }
            )
        }
        changes = table.changes.map {
            ChangeDocument(at: Timestamp.iso8601(millis: $0.atMillis), route: $0.route, cluster: $0.cluster, from: $0.from, to: $0.to, reason: $0.reason)
        }
    }

    func table() throws -> RoutingTable {
        guard let generated = Timestamp.millis(iso8601: generatedAt) else {
            throw TableJSONError(description: "generatedAt \"\(generatedAt)\" is not an ISO-8601 UTC time")
        }
        var entries: [RouteEntry] = []
        for (r, route) in routes.enumerated() {
            guard let pathType = PathType(rawValue: route.pathType) else {
                throw TableJSONError(description: "routes[\(r)].pathType \"\(route.pathType)\" is not Prefix or Exact")
            }
            var clusters: [ClusterEntry] = []
            for (c, cluster) in route.clusters.enumerated() {
                guard let state = ClusterState(rawValue: cluster.state) else {
                    throw TableJSONError(description: "routes[\(r)].clusters[\(c)].state \"\(cluster.state)\" is not a cluster state")
                }
                clusters.append(ClusterEntry(cluster: cluster.cluster, configuredWeight: cluster.configuredWeight,
                                             effectiveWeight: cluster.effectiveWeight, healthyEndpoints: cluster.healthyEndpoints,
                                             totalEndpoints: cluster.totalEndpoints, state: state, reason: cluster.reason))
            }
            var endpoints: [EndpointEntry] = []
            for (e, endpoint) in route.endpoints.enumerated() {
                guard let (host, port) = Self.split(address: endpoint.address) else {
                    throw TableJSONError(description: "routes[\(r)].endpoints[\(e)].address \"\(endpoint.address)\" is not host:port")
                }
                guard endpoint.weight.isFinite, (0...100).contains(endpoint.weight) else {
                    throw TableJSONError(description: "routes[\(r)].endpoints[\(e)].weight \(endpoint.weight) is not a percentage")
                }
                endpoints.append(EndpointEntry(cluster: endpoint.cluster, host: host, port: port,
                                               weightPPM: Int((endpoint.weight * 10_000).rounded())))
            }
            let weights = Dictionary(clusters.map { ($0.cluster, $0.configuredWeight) }, uniquingKeysWith: { a, _ in a })
            let spec = RouteSpec(uncheckedHost: route.host, path: route.path, pathType: pathType, service: route.service, weights: weights)
            let fallback = try route.fallback.map { raw in
                guard let rule = TrafficPolicy.NoneHealthy(rawValue: raw) else {
                    throw TableJSONError(description: "routes[\(r)].fallback \"\(raw)\" is not last-good, all or none")
                }
                return rule
            }
            var standby: [EndpointEntry] = []
            for (e, endpoint) in (route.standby ?? []).enumerated() {
                guard let (host, port) = Self.split(address: endpoint.address) else {
                    throw TableJSONError(description: "routes[\(r)].standby[\(e)].address \"\(endpoint.address)\" is not host:port")
                }
                standby.append(EndpointEntry(cluster: endpoint.cluster, host: host, port: port, weightPPM: 0))
            }
            entries.append(RouteEntry(spec: spec, clusters: clusters, endpoints: endpoints, failStatic: route.failStatic ?? false,
                                      fallback: fallback, standby: standby))
        }
        var changeList: [WeightChange] = []
        for (i, change) in changes.enumerated() {
            guard let at = Timestamp.millis(iso8601: change.at) else {
                throw TableJSONError(description: "changes[\(i)].at \"\(change.at)\" is not an ISO-8601 UTC time")
            }
            changeList.append(WeightChange(atMillis: at, route: change.route, cluster: change.cluster, from: change.from, to: change.to, reason: change.reason))
        }
        return RoutingTable(version: version, hash: hash, generatedAtMillis: generated, isolated: isolated, routes: entries, changes: changeList)
    }

    static func split(address: String) -> (String, UInt16)? {
        if address.hasPrefix("["), let close = address.lastIndex(of: "]") {
            let rest = address[address.index(after: close)...]
            guard rest.hasPrefix(":"), let port = UInt16(rest.dropFirst()) else { return nil }
            return (String(address[address.index(after: address.startIndex)..<close]), port)
        }
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else { return nil }
        return (String(address[..<colon]), port)
    }
}
