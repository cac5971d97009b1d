#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Gossip
import Wire
import WeightTable

/// The gateway's HTML status page, for an operator in the middle of an incident: what is failed now and since
/// when, each route's shares over the last minutes, which endpoints are in service and who vouches for them,
/// and the routing events with their reasons. It reloads itself every two seconds, so a drill can be watched
/// live, and stays one screen wide at 20 clusters and 50 routes: one line per route, details folded.
enum StatusPage {
    /// Everything the page shows, gathered by the admin API at request time.
    struct Inputs: Sendable {
        var gateway: String
        var version: String
        var startedAtMillis: UInt64
        var nowMillis: UInt64
        var members: [MemberSnapshot]
        var digests: [HealthDigest]
        var table: RoutingTable
        var history: [String: ShareHistory.Series]
        var events: [RoutingChangeLog.Entry]
        /// The table's vouching rule lets suspect members vouch (`failover.vouching: aliveOrSuspect`).
        var suspectsVouch = false
    }

    static func render(_ page: Inputs) -> String {
        let table = page.table
        let clusters = Set(table.routes.flatMap { $0.clusters.map(\.cluster) })
            .union(page.members.map(\.identity.cluster).filter { !$0.isEmpty }).sorted()
        let colorIndex = Dictionary(uniqueKeysWithValues: clusters.enumerated().map { ($1, $0) })
        var html = head(page)
        html += "<main>"
        html += summary(page, clusters: clusters)
        html += StatusSections.conflicts(page.members)
        html += ConfigRefusals.shared.html()
        html += StatusSections.clusters(page, clusters: clusters, colorIndex: colorIndex)
        html += StatusSections.events(page.events, nowMillis: page.nowMillis)
        html += routes(page, colorIndex: colorIndex)
        html += StatusSections.endpoints(EndpointVouchers(digests: page.digests, members: page.members, suspectsVouch: page.suspectsVouch),
                                         colorIndex: colorIndex)
        html += StatusSections.members(page.members)
        return html + "</main></body></html>\n"
    }

    private static func head(_ page: Inputs) -> String {
        """
        <!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="2">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>zone-agent gateway \(escape(page.gateway))</title>
        <style>
        body{font:13px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d1d1f;background:#fff}
        header{background:#1f2933;color:#fff;padding:10px 20px;display:flex;flex-wrap:wrap;gap:6px 24px;align-items:baseline}
        header h1{font-size:17px;margin:0}header a{color:#9ecbff}header .meta{color:#cbd2d9}
        main{padding:6px 20px 30px;max-width:1280px}h2{font-size:15px;margin:18px 0 6px}
        table{border-collapse:collapse;margin:4px 0 8px}td,th{border-bottom:1px solid #e4e7eb;padding:3px 8px;text-align:left;vertical-align:middle}
        th{background:#f5f7fa;font-weight:600;font-size:12px;color:#52606d}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
        .alive,.active,.healthy{color:#137333}.suspect,.degraded,.recovering,.drained,.unknown{color:#b06000}.dead,.failed,.left,.unhealthy{color:#c5221f}
        .badge{display:inline-block;border-radius:3px;padding:0 5px;font-size:11px;font-weight:600;color:#fff}
        .badge.failover{background:#c5221f}.badge.failback{background:#137333}.badge.rebalance,.badge.initial,.badge.slow_start{background:#7b8794}
        .banner{margin:10px 0;padding:8px 12px;border-radius:4px;font-weight:600}.banner.bad{background:#fce8e6;color:#a50e0e}
        .banner.warn{background:#fef7e0;color:#8a5300}.banner.ok{background:#e6f4ea;color:#0d652d}
        .sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;vertical-align:-1px}
        .stack{display:flex;width:160px;height:12px;background:#e4e7eb;border-radius:2px;overflow:hidden}
        .route td{padding-top:5px;padding-bottom:5px}tr.route.bad td:first-child{box-shadow:inset 4px 0 #c5221f}
        tr.route.warn td:first-child{box-shadow:inset 4px 0 #e8a33d}.route .name{max-width:330px;overflow-wrap:anywhere}
        .muted{color:#7b8794}details>summary{cursor:pointer;color:#334e68}details{margin:2px 0}
        code{font-size:12px}.legend{color:#52606d;font-size:12px}
        .chips{display:flex;flex-wrap:wrap;gap:1px 10px;max-width:330px;font-size:12px}.chips .w{white-space:nowrap;min-width:68px}
        .chips .sw{width:8px;height:8px;margin-right:3px}
        </style></head><body>
        <header><h1>zone-agent gateway \(escape(page.gateway))</h1>
        <span class="meta">version \(escape(page.version)) · up \(duration(millis: page.nowMillis &- page.startedAtMillis)) · table v\(page.table.version) <code>\(escape(String(page.table.hash.prefix(12))))</code></span>
        <span><a href="/v1/table">/v1/table</a> · <a href="/v1/members">/v1/members</a> · <a href="/metrics">/metrics</a></span></header>
        """
    }

    /// One sentence at the top: what is wrong, or that nothing is.
    private static func summary(_ page: Inputs, clusters: [String]) -> String {
        let table = page.table
        if table.isolated {
            if !page.members.contains(where: { $0.state == .alive && !$0.identity.cluster.isEmpty }) {
                return "<p class=\"banner bad\">Isolated: this gateway hears from no agent and serves its last good table. Check its network and the gossip port, not the clusters.</p>"
            }
            return "<p class=\"banner bad\">No cluster can serve: the gateway keeps its last good table (fail static). See each route's reasons below.</p>"
        }
        if table.version == 0 {
            return "<p class=\"banner warn\">No routing table yet: nothing heard from the mesh.</p>"
        }
        let entries = table.routes.flatMap(\.clusters)
        let failed = Set(entries.filter { $0.state == .failed }.map(\.cluster)).sorted()
        let recovering = Set(entries.filter { $0.state == .recovering }.map(\.cluster)).sorted()
        let degraded = Set(entries.filter { $0.state == .degraded }.map(\.cluster)).sorted()
        let unserved = table.routes.filter { !$0.canServe }.count
        var parts: [String] = []
        if unserved > 0 { parts.append("\(unserved) of \(table.routes.count) routes cannot be served") }
        if !failed.isEmpty { parts.append("failed over: \(failed.map(escape).joined(separator: ", "))") }
        if !recovering.isEmpty { parts.append("recovering: \(recovering.map(escape).joined(separator: ", "))") }
        if !degraded.isEmpty { parts.append("partial capacity: \(degraded.map(escape).joined(separator: ", "))") }
        // "c2 drained by operator KEYID until TIME": the reason names who and until when.
        let drained = Dictionary(entries.filter { $0.state == .drained }.map { ($0.cluster, $0.reason) }, uniquingKeysWith: min)
        for (cluster, reason) in drained.sorted(by: { $0.key < $1.key }) { parts.append("\(escape(cluster)) \(escape(reason))") }
        if parts.isEmpty {
            return "<p class=\"banner ok\">All \(clusters.count) clusters serve their configured share on all \(table.routes.count) routes.</p>"
        }
        return "<p class=\"banner \(unserved > 0 || !failed.isEmpty ? "bad" : "warn")\">\(parts.joined(separator: " · "))</p>"
    }

    /// One line per route: its weights as a bar and as numbers, its chart, and its clusters' details folded.
    private static func routes(_ page: Inputs, colorIndex: [String: Int]) -> String {
        let chart = StatusChart()
        var html = "<h2>routes (\(page.table.routes.count))</h2>"
        html += "<p class=\"legend\">Routes with a failed or recovering cluster first. Bands: each cluster's effective weight; dark lines: the share of requests the proxy actually sent "
            + "(on the band edges when they agree); dashed ticks: failover (red), failback (green). Up to the last \(chart.windowMillis / 60_000) minutes.</p>"
        html += "<table class=\"routes\"><tr><th>route → service</th><th>effective weights</th><th>clusters: effective/configured</th><th>shares over time</th></tr>"
        let eventsByRoute = Dictionary(grouping: page.events, by: \.route)
        // Routes with a problem first (failed, then recovering, then partial capacity), the table's order within.
        let ordered = page.table.routes.enumerated().sorted { (severity($0.element), $0.offset) < (severity($1.element), $1.offset) }.map(\.element)
        for route in ordered {
            let id = route.spec.id
            let rank = severity(route)
            let tint = rank == 0 ? " bad" : rank < 3 ? " warn" : ""
            html += "<tr class=\"route\(tint)\" data-route=\"\(escape(id))\"><td class=\"name\"><b>\(escape(route.spec.host.isEmpty ? "*" : route.spec.host))"
                + "\(escape(route.spec.path))</b> <span class=\"muted\">(\(route.spec.pathType.rawValue))</span><br><span class=\"muted\">→ \(escape(route.spec.service))</span>"
            html += route.canServe ? "" : " <b class=\"failed\">cannot be served</b>"
            // Which `whenNoneHealthy` rule serves the route now that no cluster can (nil while one can).
            switch route.fallback {
            case .lastGood?: html += route.failStatic ? " <b class=\"recovering\">fail static: last good weights</b>" : ""
            case .all?: html += " <b class=\"recovering\">fail open: every known endpoint</b>"
            case .none?: html += " <b class=\"failed\">fail closed: 503</b>"
            case nil: html += route.failStatic ? " <b class=\"recovering\">fail static</b>" : ""
            }
            html += "</td><td>\(stack(route, colorIndex: colorIndex))</td><td>"
            html += "<div class=\"chips\">" + route.clusters.map { c in
                "<span class=\"w\" data-cluster=\"\(escape(c.cluster))\" title=\"configured \(c.configuredWeight), \(c.healthyEndpoints)/\(c.totalEndpoints) endpoints healthy: \(escape(c.reason))\">"
                    + "<span class=\"sw\" style=\"background:\(StatusChart.color(colorIndex[c.cluster] ?? 0))\"></span>\(escape(c.cluster)) "
                    + "<b class=\"\(c.state.rawValue)\">\(c.effectiveWeight)</b><span class=\"muted\">/\(c.configuredWeight)</span></span>"
            }.joined() + "</div>"
            html += "<details><summary>why</summary>\(clusterDetails(route))</details></td><td>"
            html += chart.svg(page.history[id], route: id, colorIndex: colorIndex, events: eventsByRoute[id] ?? [], nowMillis: page.nowMillis)
            html += "</td></tr>"
        }
        return html + "</table>"
    }

    /// How urgently a route needs a look: 0 when it cannot serve or a cluster failed, 1 recovering, 2 partial
    /// capacity, 3 all active.
    private static func severity(_ route: RouteEntry) -> Int {
        if !route.canServe || route.clusters.contains(where: { $0.state == .failed }) { return 0 }
        if route.clusters.contains(where: { $0.state == .recovering }) { return 1 }
        if route.clusters.contains(where: { $0.state == .degraded }) { return 2 }
        return 3
    }

    /// The route's effective weights as one bar of cluster colours.
    private static func stack(_ route: RouteEntry, colorIndex: [String: Int]) -> String {
        var html = "<div class=\"stack\">"
        for c in route.clusters where c.effectiveWeight > 0 {
            html += "<div style=\"width:\(c.effectiveWeight)%;background:\(StatusChart.color(colorIndex[c.cluster] ?? 0))\" title=\"\(escape(c.cluster)) \(c.effectiveWeight)%\"></div>"
        }
        return html + "</div>"
    }

    private static func clusterDetails(_ route: RouteEntry) -> String {
        var html = "<table><tr><th>cluster</th><th class=\"num\">configured</th><th class=\"num\">effective</th><th class=\"num\">healthy</th><th>state</th><th>reason</th></tr>"
        for c in route.clusters {
            html += "<tr><td>\(escape(c.cluster))</td><td class=\"num\">\(c.configuredWeight)</td><td class=\"num\">\(c.effectiveWeight)</td>"
            html += "<td class=\"num\">\(c.healthyEndpoints)/\(c.totalEndpoints)</td><td class=\"\(c.state.rawValue)\">\(c.state.rawValue)</td><td>\(escape(c.reason))</td></tr>"
        }
        return html + "</table>"
    }

    /// `3h 12m`, `4m 05s`, `12s`.
    static func duration(millis: UInt64) -> String {
        let seconds = millis / 1000
        if seconds >= 86_400 { return "\(seconds / 86_400)d \(seconds % 86_400 / 3600)h" }
        if seconds >= 3600 { return "\(seconds / 3600)h \(seconds % 3600 / 60)m" }
        if seconds >= 60 { return "\(seconds / 60)m \(String(format: "%02d", seconds % 60))s" }
        return "\(seconds)s"
    }

    /// `HH:MM:SS` in UTC, the time of day an operator matches against logs.
    static func clock(_ millis: UInt64) -> String {
        let s = millis / 1000
        return String(format: "%02d:%02d:%02d", s / 3600 % 24, s / 60 % 60, s % 60)
    }

    /// Names started twice (``StatusSections/conflicts(_:)``).
    static func conflicts(_ members: [MemberSnapshot]) -> String { StatusSections.conflicts(members) }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
