import Gossip
import Wire
import WeightTable

/// The status page's sections below the routes: clusters at a glance, routing events, endpoints and who
/// vouches for them, members, and member names started twice.
enum StatusSections {
    private static let escape = StatusPage.escape

    /// One line per cluster: its colour, agents, endpoints, and on how many routes it is in each state.
    static func clusters(_ page: StatusPage.Inputs, clusters: [String], colorIndex: [String: Int]) -> String {
        let vouchers = EndpointVouchers(digests: page.digests, members: page.members, suspectsVouch: page.suspectsVouch)
        var html = "<h2>clusters (\(clusters.count))</h2><table><tr><th>cluster</th><th>zone</th><th class=\"num\">agents alive</th>"
            + "<th class=\"num\">endpoints healthy</th><th>routes by state</th><th>last failover / failback</th></tr>"
        for cluster in clusters {
            let agents = page.members.filter { $0.identity.cluster == cluster }
            let alive = agents.filter { $0.state == .alive }.count
            let zones = Set(agents.map(\.identity.zone).filter { !$0.isEmpty }).sorted().joined(separator: ", ")
            let endpoints = vouchers.endpoints.filter { $0.cluster == cluster }
            let healthy = endpoints.filter { $0.health == .healthy }.count
            let states = page.table.routes.compactMap { $0.clusters.first { $0.cluster == cluster }?.state }
            let byState = ClusterState.allCases.compactMap { state -> String? in
                let n = states.filter { $0 == state }.count
                return n == 0 ? nil : "<span class=\"\(state.rawValue)\">\(state.rawValue) \(n)</span>"
            }.joined(separator: " · ")
            let last = page.events.last { $0.cluster == cluster && ($0.kind == .failover || $0.kind == .failback) }
            html += "<tr data-cluster=\"\(escape(cluster))\"><td><span class=\"sw\" style=\"background:\(StatusChart.color(colorIndex[cluster] ?? 0))\"></span><b>\(escape(cluster))</b></td>"
            html += "<td>\(escape(zones))</td><td class=\"num \(alive == 0 && !agents.isEmpty ? "failed" : "")\">\(alive)/\(agents.count)</td>"
            html += "<td class=\"num \(healthy < endpoints.count ? "degraded" : "")\">\(healthy)/\(endpoints.count)</td><td>\(byState)</td>"
            html += "<td>\(last.map { "<span class=\"badge \($0.kind.rawValue)\">\($0.kind.rawValue)</span> \(StatusPage.clock($0.atMillis)) (\(StatusPage.duration(millis: page.nowMillis &- $0.atMillis)) ago)" } ?? "<span class=\"muted\">none</span>")</td></tr>"
        }
        return html + "</table>"
    }

    /// The routing events, newest first: a failback and its slow-start steps on one line, a failover and the
    /// others taking its share on one line, and one cluster's same event on many routes at once on one line
    /// (the routes folded).
    static func events(_ events: [RoutingChangeLog.Entry], nowMillis: UInt64) -> String {
        var html = "<h2>recent routing changes</h2>"
        guard !events.isEmpty else { return html + "<p class=\"muted\">No change of any effective weight since the gateway started.</p>" }
        // One cluster's event in one rebuild, on every route it touched.
        var groups: [[RoutingChangeLog.Entry]] = []
        for e in events.reversed() {
            if let last = groups.last?.last, last.kind == e.kind, last.cluster == e.cluster, last.atMillis == e.atMillis {
                groups[groups.count - 1].append(e)
            } else {
                groups.append([e])
            }
        }
        html += "<table class=\"events\"><tr><th>at (UTC)</th><th>kind</th><th>cluster</th><th>route</th><th class=\"num\">weight</th><th>reason</th></tr>"
        for group in groups.prefix(30) {
            let e = group[0]
            let until = group.map(\.untilMillis).max() ?? e.untilMillis
            var at = StatusPage.clock(e.atMillis)
            if until > e.atMillis { at += "–" + StatusPage.clock(until) }
            let route = group.count == 1 ? escape(e.route)
                : "<details><summary>\(group.count) routes</summary>\(group.map { escape($0.route) }.joined(separator: "<br>"))</details>"
            let weights = Set(group.map { "\($0.from) → \($0.to)" })
            var notes: [String] = []
            let folded = group.map(\.folded).reduce(0, +)
            if e.kind == .failback && folded > 0 { notes.append("slow start: \(folded) steps") }
            if e.kind == .failover && folded > 0 { notes.append("share moved to the others") }
            let reasons = Set(group.map(\.reason))
            html += "<tr class=\"event\" data-kind=\"\(e.kind.rawValue)\"><td>\(at)</td><td><span class=\"badge \(e.kind.rawValue)\">\(e.kind.rawValue)</span></td>"
            html += "<td>\(escape(e.cluster))</td><td>\(route)</td><td class=\"num\">\(weights.count == 1 ? weights.first! : "varies")</td>"
            html += "<td>\(reasons.count == 1 ? escape(e.reason) : "per route (see the route)")"
            html += notes.isEmpty ? "" : " <span class=\"muted\">(\(notes.joined(separator: "; ")))</span>"
            html += "</td></tr>"
        }
        return html + "</table>"
    }

    /// Endpoints per cluster, each with its health and what each agent says of it; a cluster with a problem is
    /// unfolded.
    static func endpoints(_ vouchers: EndpointVouchers, colorIndex: [String: Int]) -> String {
        var html = "<h2>endpoints (\(vouchers.endpoints.count))</h2>"
        for (cluster, endpoints) in Dictionary(grouping: vouchers.endpoints, by: \.cluster).sorted(by: { $0.key < $1.key }) {
            let healthy = endpoints.filter { $0.health == .healthy }.count
            html += "<details class=\"endpoints\" data-cluster=\"\(escape(cluster))\"\(healthy < endpoints.count ? " open" : "")><summary>"
            html += "<span class=\"sw\" style=\"background:\(StatusChart.color(colorIndex[cluster] ?? 0))\"></span>\(escape(cluster)): "
            html += "<span class=\"\(healthy == endpoints.count ? "healthy" : "unhealthy")\">\(healthy) of \(endpoints.count) healthy</span></summary>"
            html += "<table><tr><th>service</th><th>address</th><th>health</th><th>what its agents say (only vouching agents count)</th></tr>"
            for e in endpoints {
                let reports = e.reports.map { r in
                    "<span class=\"\(r.counts ? r.state.description : "muted")\">\(escape(r.agent)): \(r.state)\(r.counts ? "" : " (agent \(r.agentState?.rawValue ?? "unknown"), does not count)")</span>"
                }.joined(separator: ", ")
                html += "<tr><td>\(escape(e.service))</td><td><code>\(escape(e.address))</code></td><td class=\"\(e.health)\">\(e.health)</td><td>\(reports)</td></tr>"
            }
            html += "</table></details>"
        }
        return html
    }

    /// The members: those not alive listed, the alive ones folded.
    static func members(_ members: [MemberSnapshot]) -> String {
        let notAlive = members.filter { $0.state != .alive }
        let counts = ["alive", "suspect", "dead", "left"].compactMap { state -> String? in
            let n = members.filter { $0.state.rawValue == state }.count
            return n == 0 ? nil : "<span class=\"\(state)\">\(n) \(state)</span>"
        }.joined(separator: " · ")
        var html = "<h2>members (\(members.count): \(counts))</h2>"
        html += "<details\(notAlive.isEmpty ? "" : " open")><summary>\(notAlive.isEmpty ? "all alive" : "\(notAlive.count) not alive, listed first")</summary>"
        html += "<table><tr><th>node</th><th>cluster</th><th>zone</th><th>address</th><th>state</th><th class=\"num\">incarnation</th></tr>"
        for m in notAlive + members.filter({ $0.state == .alive }) {
            html += "<tr><td>\(escape(m.name))</td><td>\(escape(m.identity.cluster.isEmpty ? "(gateway)" : m.identity.cluster))</td>"
            html += "<td>\(escape(m.identity.zone))</td><td><code>\(m.address)</code></td><td class=\"\(m.state.rawValue)\">\(m.state.rawValue)</td><td class=\"num\">\(m.incarnation)</td></tr>"
        }
        return html + "</table></details>"
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
}
