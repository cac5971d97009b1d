import MeshCrypto

/// The table's content hash: BLAKE2b-256 over a canonical encoding of what decides where traffic goes.
///
/// Only routes, effective weights and endpoint weights are encoded — never version, timestamps, reasons or
/// changes — so two gateways that reached the same routing decisions by different histories agree.
public enum TableHash {
    /// The lower-case hex hash of `routes` (already in table order).
    public static func hash(of routes: [RouteEntry]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(64 + routes.count * 64 + routes.reduce(0) { $0 + $1.endpoints.count * 24 })
        // A format tag, so a future change of the encoding cannot collide with this one.
        append("zone-agent table v1", to: &bytes)
        append(UInt32(truncatingIfNeeded: routes.count), to: &bytes)
        for route in routes {
            append(route.spec.host, to: &bytes)
            append(route.spec.path, to: &bytes)
            append(route.spec.pathType.rawValue, to: &bytes)
            append(route.spec.service, to: &bytes)
            append(UInt32(truncatingIfNeeded: route.clusters.count), to: &bytes)
            for cluster in route.clusters {
                append(cluster.cluster, to: &bytes)
                append(UInt32(truncatingIfNeeded: cluster.configuredWeight), to: &bytes)
                append(UInt32(truncatingIfNeeded: cluster.effectiveWeight), to: &bytes)
            }
            append(UInt32(truncatingIfNeeded: route.endpoints.count), to: &bytes)
            for endpoint in route.endpoints {
                append(endpoint.cluster, to: &bytes)
                append(endpoint.host, to: &bytes)
                append(UInt32(endpoint.port), to: &bytes)
                append(UInt32(truncatingIfNeeded: endpoint.weightPPM), to: &bytes)
            }
        }
        return ContentHash.hex(bytes)
    }

    private static func append(_ value: UInt32, to bytes: inout [UInt8]) {
        bytes.append(UInt8(truncatingIfNeeded: value >> 24))
        bytes.append(UInt8(truncatingIfNeeded: value >> 16))
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }

    // Length-prefixed, so that ("ab", "c") and ("a", "bc") encode differently.
    private static func append(_ string: String, to bytes: inout [UInt8]) {
        append(UInt32(truncatingIfNeeded: string.utf8.count), to: &bytes)
        bytes.append(contentsOf: string.utf8)
    }
}
