/// The human-readable table that `zone-agent table` prints: one block per route, aligned columns.
public enum TableText {
    /// Renders `table` as aligned text, with up to `changeLimit` of its most recent changes.
    public static func render(_ table: RoutingTable, changeLimit: Int = 20) -> String {
        var out = "table v\(table.version)  hash \(table.hash.prefix(16))  generated \(Timestamp.iso8601(millis: table.generatedAtMillis))"
        out += table.isolated ? "  ISOLATED (fail static: last good weights kept)\n" : "\n"
        if table.routes.isEmpty { out += "\n(no routes)\n" }
        for route in table.routes {
            let host = route.spec.host.isEmpty ? "*" : route.spec.host
            out += "\n\(host) \(route.spec.path) (\(route.spec.pathType.rawValue)) -> \(route.spec.service)"
            switch route.fallback {
            case .lastGood?, nil: out += route.failStatic ? "  [fail static]\n" : "\n"
            case .all?: out += "  [fail open: every known endpoint]\n"
            case .none?: out += "  [fail closed: 503]\n"
            }
            var rows = [["CLUSTER", "CONFIGURED", "EFFECTIVE", "HEALTHY", "STATE", "REASON"]]
            for cluster in route.clusters {
                rows.append([cluster.cluster, "\(cluster.configuredWeight)", "\(cluster.effectiveWeight)",
                             "\(cluster.healthyEndpoints)/\(cluster.totalEndpoints)", cluster.state.rawValue, cluster.reason])
            }
            out += aligned(rows, rightAligned: [1, 2, 3], indent: "  ")
            var perCluster: [(String, Int, Int)] = []
            for endpoint in route.endpoints {
                if let last = perCluster.last, last.0 == endpoint.cluster {
                    perCluster[perCluster.count - 1] = (last.0, last.1 + 1, last.2 + endpoint.weightPPM)
                } else {
                    perCluster.append((endpoint.cluster, 1, endpoint.weightPPM))
                }
            }
            if route.endpoints.isEmpty {
                out += "  no endpoint receives traffic\n"
            } else if route.endpoints.count <= 8 {
                var endpointRows = [["ENDPOINT", "CLUSTER", "WEIGHT %"]]
                for endpoint in route.endpoints {
                    endpointRows.append([endpoint.address, endpoint.cluster, percent(endpoint.weightPPM)])
                }
                out += aligned(endpointRows, rightAligned: [2], indent: "  ")
            } else {
                let summary = perCluster.map { "\($0.0): \($0.1) endpoints, \(percent($0.2))%" }.joined(separator: "; ")
                out += "  \(route.endpoints.count) endpoints receive traffic (\(summary))\n"
            }
        }
        let recent = table.changes.suffix(max(0, changeLimit))
        if !recent.isEmpty {
            out += "\nrecent changes\n"
            var rows = [["AT", "ROUTE", "CLUSTER", "FROM", "TO", "REASON"]]
            for change in recent {
                rows.append([Timestamp.iso8601(millis: change.atMillis), change.route, change.cluster, "\(change.from)", "\(change.to)", change.reason])
            }
            out += aligned(rows, rightAligned: [3, 4], indent: "  ")
        }
        return out
    }

    static func percent(_ ppm: Int) -> String {
        let whole = ppm / 10_000
        let fraction = ppm % 10_000
        if fraction == 0 { return "\(whole)" }
        var digits = String(fraction)
        digits = String(repeating: "0", count: 4 - digits.count) + digits
        while digits.hasSuffix("0") { digits.removeLast() }
        return "\(whole).\(digits)"
    }

    /// Pads every column to its widest cell; the last column is left ragged, as it holds free text.
    static func aligned(_ rows: [[String]], rightAligned: Set<Int>, indent: String) -> String {
        guard let columns = rows.map(\.count).max() else { return "" }
        var widths = [Int](repeating: 0, count: columns)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        var out = ""
        for row in rows {
            var line = indent
            for (i, cell) in row.enumerated() {
                let isLast = i == row.count - 1
                let padding = String(repeating: " ", count: widths[i] - cell.count)
                if isLast && !rightAligned.contains(i) {
                    line += cell
                } else {
                    line += rightAligned.contains(i) ? padding + cell : cell + padding
                }
                if !isLast { line += "  " }
            }
            while line.hasSuffix(" ") { line.removeLast() }
            out += line + "\n"
        }
        return out
    }
}
