#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
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

    /// The DiscoveryResponse of every service, by file name, in file-name order. When several routes name one
    /// service, the first route's weights win, since a ClusterLoadAssignment has one set of locality weights.
    static func documents(_ table: RoutingTable) -> [(file: String, document: EDSDiscoveryResponse)] {
        var seen: Set<String> = []
        var out: [(file: String, document: EDSDiscoveryResponse)] = []
        for route in table.routes {
            let name = fileName(service: route.spec.service)
            guard seen.insert(name).inserted else { continue }
            out.append((name, EDSDiscoveryResponse(table: table, route: route)))
        }
        return out.sorted { $0.file < $1.file }
    }

    /// A document's bytes: keys sorted and pretty, so equal assignments give equal files and a person can read
    /// them. Throws an `OutputError` naming the file rather than leaving it out unsaid.
    static func encode(_ document: EDSDiscoveryResponse, file: String) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(document))
        } catch {
            throw OutputError(output: "envoy", problem: "cannot encode \(file): \(error)")
        }
    }

    /// Every file's bytes by file name; throws when any document cannot be encoded.
    static func render(_ table: RoutingTable) throws -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        for (file, document) in documents(table) { out[file] = try encode(document, file: file) }
        return out
    }

    /// Writes every assignment that changed, each through a temporary file and `rename`, so Envoy never reads
    /// half a file. A file that cannot be encoded or written does not stop the others: all are tried, and then
    /// one error names each that failed, so `OutputSync` logs it, counts it (`zone_agent_output_failures_total`)
    /// and retries until every file holds the table.
    func write(_ table: RoutingTable) throws {
        try Self.makeDirectory(directory)
        var problems: [String] = []
        for (name, document) in Self.documents(table) {
            do {
                let bytes = try Self.encode(document, file: name)
                let path = "\(directory)/\(name)"
                if let current = FileManager.default.contents(atPath: path), [UInt8](current) == bytes { continue }
                let temporary = "\(directory)/.\(name).tmp"
                try Self.writeFile(temporary, bytes)
                guard rename(temporary, path) == 0 else {
                    let reason = String(cString: strerror(errno))
                    unlink(temporary)
                    throw OutputError(output: "envoy", problem: "cannot rename \(temporary) to \(path): \(reason)")
                }
            } catch let error as OutputError {
                problems.append(error.problem)
            }
        }
        if !problems.isEmpty { throw OutputError(output: "envoy", problem: problems.joined(separator: "; ")) }
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
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
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
