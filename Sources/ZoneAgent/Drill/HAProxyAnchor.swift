#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The anchor of `make bench-failover`: HAProxy with active health checks in front of the very backends of a
/// drill's local mesh, so that zone-agent and HAProxy are measured on the same topology, the same faults and the
/// same request stream. Its "table" is HAProxy's own view of its servers (the stats CSV): a cluster's weight is the
/// share of the weight of its servers that HAProxy has UP.
struct HAProxyAnchor: Sendable {
    /// `inter 2s fall 3 rise 2`: the server `check` parameters.
    var check: String
    /// `option redispatch`: a request whose connection fails is retried on another server.
    var redispatch: Bool

    /// Parses `--anchor-haproxy "inter 2s fall 3 rise 2 [redispatch]"`.
    init?(_ text: String) {
        var words = text.split(separator: " ").map(String.init)
        redispatch = words.last == "redispatch"
        if redispatch { words.removeLast() }
        guard words.count % 2 == 0, !words.isEmpty,
              stride(from: 0, to: words.count, by: 2).allSatisfy({ ["inter", "fall", "rise", "fastinter", "downinter"].contains(words[$0]) })
        else { return nil }
        check = words.joined(separator: " ")
    }

    var label: String { "haproxy \(check)\(redispatch ? " redispatch" : "")" }

    static func executable() -> String? {
        ["/usr/sbin/haproxy", "/usr/bin/haproxy"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// HAProxy's configuration for the mesh: each cluster's weight spread over its backends, checks on `/healthz`,
    /// the serving cluster named in `x-zone-cluster` as zone-agent's proxy does, stats where the admin API would be.
    func configuration(for mesh: LocalMesh) -> String {
        var servers: [String] = []
        for cluster in mesh.clusters {
            let names = mesh.backendNames(cluster)
            let weight = max(1, (mesh.layout.clusters[cluster] ?? 0) / max(1, names.count))
            for i in names.indices {
                servers.append("    server \(cluster)-\(i + 1) \(mesh.ip(mesh.group(of: cluster), 11 + i)):8080 weight \(weight) check \(check)")
            }
        }
        return """
        global
            maxconn 4096
        defaults
            mode http
            timeout connect 1s
            timeout client 30s
            timeout server 10s
            timeout check 1s
            option http-keep-alive
            retries 3
        \(redispatch ? "    option redispatch\n" : "")frontend fe
            bind \(mesh.ip(99, 1)):8001
            default_backend web-demo
        backend web-demo
            balance roundrobin
            option httpchk GET /healthz
            http-response set-header x-zone-cluster %[srv_name,field(1,-)]
        \(servers.joined(separator: "\n"))
        listen stats
            bind \(mesh.ip(99, 1)):9101
            stats enable
            stats uri /stats

        """
    }

    /// Per cluster, the percentage of the UP servers' weight, from HAProxy's stats CSV (`# pxname,svname,…`).
    static func weights(csv: String) -> [String: Int]? {
        let lines = csv.split(separator: "\n")
        guard let header = lines.first?.dropFirst(2).split(separator: ",", omittingEmptySubsequences: false).map(String.init),
              let px = header.firstIndex(of: "pxname"), let sv = header.firstIndex(of: "svname"),
              let st = header.firstIndex(of: "status"), let wt = header.firstIndex(of: "weight") else { return nil }
        var up: [String: Int] = [:], clusters = Set<String>()
        for line in lines.dropFirst() {
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard f.count > max(px, sv, st, wt), f[px] == "web-demo", !["FRONTEND", "BACKEND"].contains(f[sv]) else { continue }
            let cluster = String(f[sv].split(separator: "-").first ?? "")
            clusters.insert(cluster)
            // "UP", or "UP 1/3" while it is failing its checks: it still takes traffic.
            if f[st].hasPrefix("UP") { up[cluster, default: 0] += Int(f[wt]) ?? 0 }
        }
        let total = up.values.reduce(0, +)
        var out: [String: Int] = [:]
        for c in clusters { out[c] = total == 0 ? 0 : Int((Double(up[c] ?? 0) * 100 / Double(total)).rounded()) }
        return out
    }
}
