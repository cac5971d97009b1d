import Foundation
import WeightTable

/// Feeds Envoy through file-based EDS: one `ClusterLoadAssignment` per service, one locality per cluster with
/// its effective weight, written by atomic rename into the directory Envoy watches.
///
/// Envoy's side: a cluster named like the service (`gateway-demo/service1`) with
/// `eds_cluster_config.eds_config.path_config_source` pointing at `DIR/<namespace>_<name>.json` and
/// `watched_directory: DIR`, and `common_lb_config.locality_weighted_lb_config: {}` so that locality weights apply.
/// The overprovisioning factor is set to 100 in every assignment, because zone-agent has already applied its own
/// partial-capacity rule to the weights.
struct EnvoyEDSOutput: Sendable {
    let directory: String

    /// The file name for a service's assignment.
    static func fileName(service: String) -> String {
        service.replacingOccurrences(of: "/", with: "_") + ".json"
    }

    /// The DiscoveryResponse per file name. When several routes name one service, the first route's weights win,
    /// since a ClusterLoadAssignment has one set of locality weights.
    static func render(_ table: RoutingTable) -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        for route in table.routes {
            let name = fileName(service: route.spec.service)
            guard out[name] == nil else { continue }
            var localities: [[String: Any]] = []
            for cluster in route.clusters where cluster.effectiveWeight > 0 {
                let endpoints = route.endpoints.filter { $0.cluster == cluster.cluster && $0.weightPPM > 0 }
                guard !endpoints.isEmpty else { continue }
                // Endpoint weights inside a locality are relative; Envoy needs integers ≥ 1.
                let smallest = endpoints.map(\.weightPPM).min() ?? 1
                localities.append([
                    "locality": ["zone": cluster.cluster],
                    // Envoy requires locality weights ≥ 1; zero-weight clusters are left out above.
                    "load_balancing_weight": cluster.effectiveWeight,
                    "lb_endpoints": endpoints.map { e -> [String: Any] in
                        [
                            "endpoint": ["address": ["socket_address": ["address": e.host, "port_value": Int(e.port)]]],
                            "health_status": "HEALTHY",
                            "load_balancing_weight": max(1, Int((Double(e.weightPPM) / Double(smallest) * 10).rounded())),
                        ]
                    },
                ])
            }
            let assignment: [String: Any] = [
                "@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
                "cluster_name": route.spec.service,
                "endpoints": localities,
                "policy": ["overprovisioning_factor": 100],
            ]
            let response: [String: Any] = [
                "version_info": "\(table.version)-\(table.hash.prefix(12))",
                "resources": [assignment],
            ]
            if let data = try? JSONSerialization.data(withJSONObject: response, options: [.sortedKeys, .prettyPrinted]) {
                out[name] = [UInt8](data)
            }
        }
        return out
    }

    /// Writes every assignment that changed, each through a temporary file and `rename`, so Envoy never reads
    /// half a file.
    func write(_ table: RoutingTable) throws {
        try Self.makeDirectory(directory)
        for (name, bytes) in Self.render(table) {
            let path = "\(directory)/\(name)"
            if let current = FileManager.default.contents(atPath: path), [UInt8](current) == bytes { continue }
            let temporary = "\(directory)/.\(name).tmp"
            try Self.writeFile(temporary, bytes)
            guard rename(temporary, path) == 0 else {
                throw OutputError(output: "envoy", problem: "cannot rename \(temporary) to \(path): \(String(cString: strerror(errno)))")
            }
        }
    }
}

extension EnvoyEDSOutput {
    /// Creates `path` and its missing parents (`mkdir -p`), or throws with the system's reason, such as "Not a
    /// directory" when a parent is a file.
    static func makeDirectory(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/\(component)"
            if mkdir(prefix, 0o755) == 0 || errno == EEXIST { continue }
            throw OutputError(output: "envoy", problem: "cannot create the directory \(prefix): \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw OutputError(output: "envoy", problem: "cannot use \(path) as the output directory: it is not a directory")
        }
    }

    /// Writes `bytes` to `path` whole, or throws with the system's reason (a full disk: "No space left on device"),
    /// removing the partial file.
    static func writeFile(_ path: String, _ bytes: [UInt8]) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw OutputError(output: "envoy", problem: "cannot write \(path): \(String(cString: strerror(errno)))") }
        var written = 0
        var failure: Int32 = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { failure = n < 0 ? errno : ENOSPC; break }
            written += n
        }
        if close(fd) != 0 && failure == 0 { failure = errno }
        if failure != 0 {
            unlink(path)
            throw OutputError(output: "envoy", problem: "cannot write \(path): \(String(cString: strerror(failure)))")
        }
    }
}

/// An output that could not be updated; the gateway logs it, counts it and retries it (`OutputSync`).
struct OutputError: Error, CustomStringConvertible {
    var output: String
    var problem: String
    var description: String { "\(output) output: \(problem)" }
}
