#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Gossip
import WeightTable

/// The gateway's HTML status page: members, clusters and weights, and the recent routing changes with their
/// reasons. It reloads itself every two seconds, so a drill can be watched live.
enum StatusPage {
    static func render(self name: String, members: [MemberSnapshot], table: RoutingTable) -> String {
        var html = """
        <!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="2">
        <title>zone-agent gateway \(escape(name))</title>
        <style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}
        td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f3f3f3}.alive,.active{color:#080}
        .suspect,.degraded,.recovering{color:#b60}.dead,.failed,.left{color:#c00}.bar{background:#4a7;height:10px}</style>
        </head><body><h1>zone-agent gateway \(escape(name))</h1>
        <p>table version \(table.version), hash <code>\(escape(String(table.hash.prefix(16))))</code>\(table.isolated ? " — <b class=\"failed\">isolated: serving the last good table</b>" : "")</p>
        """
        html += conflicts(members)
        for route in table.routes {
            html += "<h2>\(escape(route.spec.host)) \(escape(route.spec.path)) (\(route.spec.pathType.rawValue)) → \(escape(route.spec.service))</h2>"
            html += "<table><tr><th>cluster</th><th>configured</th><th>effective</th><th></th><th>healthy</th><th>state</th><th>reason</th></tr>"
            for c in route.clusters {
                html += "<tr><td>\(escape(c.cluster))</td><td>\(c.configuredWeight)</td><td>\(c.effectiveWeight)</td>"
                html += "<td><div class=\"bar\" style=\"width:\(c.effectiveWeight * 2)px\"></div></td>"
                html += "<td>\(c.healthyEndpoints)/\(c.totalEndpoints)</td><td class=\"\(c.state.rawValue)\">\(c.state.rawValue)</td><td>\(escape(c.reason))</td></tr>"
            }
            html += "</table>"
        }
        html += "<h2>members</h2><table><tr><th>node</th><th>cluster</th><th>zone</th><th>address</th><th>state</th><th>incarnation</th></tr>"
        for m in members {
            html += "<tr><td>\(escape(m.name))</td><td>\(escape(m.identity.cluster.isEmpty ? "(gateway)" : m.identity.cluster))</td>"
            html += "<td>\(escape(m.identity.zone))</td><td>\(m.address)</td><td class=\"\(m.state.rawValue)\">\(m.state.rawValue)</td><td>\(m.incarnation)</td></tr>"
        }
        html += "</table><h2>recent routing changes</h2><table><tr><th>at</th><th>route</th><th>cluster</th><th>from</th><th>to</th><th>reason</th></tr>"
        for change in table.changes.suffix(30).reversed() {
            let at = Date(timeIntervalSince1970: Double(change.atMillis) / 1000)
            html += "<tr><td>\(at.formatted(.iso8601))</td><td>\(escape(change.route))</td><td>\(escape(change.cluster))</td>"
            html += "<td>\(change.from)</td><td>\(change.to)</td><td>\(escape(change.reason))</td></tr>"
        }
        return html + "</table></body></html>\n"
    }

    /// Names used by more than one running process (a node name started twice), each with its generations and
    /// addresses, so that an operator can find and stop the extra one; empty when there are none.
    static func conflicts(_ members: [MemberSnapshot]) -> String {
        let twice = Dictionary(grouping: members.filter(\.state.isActive), by: \.name).filter { $0.value.count > 1 }
        guard !twice.isEmpty else { return "" }
        var html = "<h2 class=\"failed\">member names started twice</h2><p>Each name below is used by more than one running "
            + "process. All of them keep vouching, but give every agent a unique <code>node</code> name and stop the extra ones.</p>"
            + "<table><tr><th>node</th><th>generation</th><th>address</th><th>state</th><th>incarnation</th></tr>"
        for (name, generations) in twice.sorted(by: { $0.key < $1.key }) {
            for m in generations.sorted(by: { $0.identity.generation < $1.identity.generation }) {
                html += "<tr><td>\(escape(name))</td><td>\(m.identity.generation)</td><td>\(m.address)</td>"
                html += "<td class=\"\(m.state.rawValue)\">\(m.state.rawValue)</td><td>\(m.incarnation)</td></tr>"
            }
        }
        return html + "</table>"
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
