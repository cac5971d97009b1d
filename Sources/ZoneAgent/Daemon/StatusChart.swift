/// The status page's picture of one route over the last minutes, as inline SVG: each cluster's effective weight
/// as a coloured band (the bands stack to 100%), the share of requests the proxy actually sent as dark lines on
/// the band edges (where they agree, a line runs along its edge), and ticks where a failover (red) or failback
/// (green) happened.
///
/// Weights change in steps, so a band's edge is drawn with a point only where it moves: a route that did not
/// change in five minutes costs a few dozen bytes, and a page of 50 routes stays small enough to reload every
/// two seconds.
struct StatusChart {
    var width = 360
    var height = 64
    /// The span of time the chart covers, ending now.
    var windowMillis: UInt64 = ShareHistory.windowMillis

    /// Twenty colours that stay apart from each other and from the dark share lines (a categorical palette
    /// laid out so that neighbours in the list differ most).
    static let palette = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
                          "#9c755f", "#bab0ac", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                          "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]

    /// The colour of a cluster, by its place among all the gateway's clusters.
    static func color(_ index: Int) -> String { palette[index % palette.count] }

    /// The chart of `series`, with `colorIndex` giving each cluster's colour and `events` the failovers and
    /// failbacks of this route.
    func svg(_ series: ShareHistory.Series?, route: String, colorIndex: [String: Int], events: [RoutingChangeLog.Entry],
             nowMillis: UInt64) -> String {
        // The last `windowMillis`, or less when the history is younger (a gateway just started): the chart always
        // spans its whole width.
        let windowStart = nowMillis > windowMillis ? nowMillis - windowMillis : 0
        let firstSample = series?.samples.first { $0.atMillis >= windowStart }?.atMillis
        let start = min(max(windowStart, firstSample ?? windowStart), nowMillis > 1_000 ? nowMillis - 1_000 : 0)
        var svg = "<svg class=\"shares\" data-route=\"\(StatusPage.escape(route))\" width=\"\(width)\" height=\"\(height + 12)\" "
            + "viewBox=\"0 0 \(width) \(height + 12)\" role=\"img\" aria-label=\"shares of \(StatusPage.escape(route)) over the last \(windowMillis / 60_000) minutes\">"
        svg += "<rect x=\"0\" y=\"0\" width=\"\(width)\" height=\"\(height)\" fill=\"#f4f4f4\"/>"
        let samples = (series?.samples ?? []).filter { $0.atMillis >= start }
        if let series, !samples.isEmpty {
            let xs = samples.map { x($0.atMillis, start: start, now: nowMillis) }
            let clusters = series.clusters
            // Band edges: edge k is the sum of the weights of the first k clusters.
            let edges = (0...clusters.count).map { k in samples.map { s in s.weights.prefix(k).reduce(0) { $0 + Int($1) } } }
            for (k, cluster) in clusters.enumerated() where samples.contains(where: { $0.weights[k] > 0 }) {
                let top = stepPoints(xs, edges[k + 1])
                let bottom = stepPoints(xs, edges[k]).reversed()
                let color = Self.color(colorIndex[cluster] ?? k)
                svg += "<polygon class=\"weight\" data-cluster=\"\(StatusPage.escape(cluster))\" fill=\"\(color)\" fill-opacity=\"0.85\" points=\"\((top + bottom).joined(separator: " "))\">"
                svg += "<title>\(StatusPage.escape(cluster)): effective weight, now \(samples.last!.weights[k])</title></polygon>"
            }
            // Share edges, skipped where no request was counted; the outer edges (0 and 100) say nothing. Thinner
            // when many clusters crowd the chart.
            let stroke = clusters.count > 4 ? "stroke-width=\"0.8\" stroke-opacity=\"0.55\"" : "stroke-width=\"1.5\" stroke-opacity=\"0.8\""
            for k in 1..<max(1, clusters.count) {
                for run in shareRuns(samples, xs: xs, edge: k) {
                    svg += "<polyline class=\"share\" fill=\"none\" stroke=\"#111\" \(stroke) points=\"\(run)\"/>"
                }
            }
        } else {
            svg += "<text x=\"\(width / 2)\" y=\"\(height / 2 + 4)\" text-anchor=\"middle\" font-size=\"11\" fill=\"#888\">no samples yet</text>"
        }
        for event in events where event.atMillis >= start && (event.kind == .failover || event.kind == .failback) {
            let ex = x(event.atMillis, start: start, now: nowMillis)
            let color = event.kind == .failover ? "#c00" : "#080"
            svg += "<line class=\"event \(event.kind.rawValue)\" x1=\"\(ex)\" x2=\"\(ex)\" y1=\"0\" y2=\"\(height)\" stroke=\"\(color)\" stroke-width=\"1\" stroke-dasharray=\"3 2\">"
            svg += "<title>\(event.kind.rawValue) of \(StatusPage.escape(event.cluster))</title></line>"
        }
        let label = "font-size=\"10\" fill=\"#666\""
        svg += "<text x=\"0\" y=\"\(height + 10)\" \(label)>−\(StatusPage.duration(millis: nowMillis - start))</text>"
        svg += "<text x=\"\(width)\" y=\"\(height + 10)\" text-anchor=\"end\" \(label)>now</text>"
        return svg + "</svg>"
    }

    private func x(_ atMillis: UInt64, start: UInt64, now: UInt64) -> Int {
        guard now > start else { return width }
        let clamped = min(max(atMillis, start), now)
        return Int((Double(clamped - start) / Double(now - start) * Double(width)).rounded())
    }

    private func y(_ percent: Int) -> Int {
        Int((Double(height) * (1 - Double(min(100, max(0, percent))) / 100)).rounded())
    }

    /// A step line through `values` (each held until the next sample, the last until the right edge), with a
    /// point only where the value moves.
    private func stepPoints(_ xs: [Int], _ values: [Int]) -> [String] {
        var points = ["\(xs[0]),\(y(values[0]))"]
        for i in 1..<xs.count where values[i] != values[i - 1] {
            points.append("\(xs[i]),\(y(values[i - 1]))")
            points.append("\(xs[i]),\(y(values[i]))")
        }
        points.append("\(width),\(y(values[values.count - 1]))")
        return points
    }

    /// The share edge `edge` as polylines: a sample's share covers the interval since the sample before it.
    private func shareRuns(_ samples: [ShareHistory.Sample], xs: [Int], edge: Int) -> [String] {
        var runs: [String] = []
        var current: [String] = []
        var last: Int?
        for i in 1..<max(1, samples.count) {
            guard let shares = samples[i].shares else {
                if current.count > 1 { runs.append(current.joined(separator: " ")) }
                current = []
                last = nil
                continue
            }
            let value = shares.prefix(edge).reduce(0) { $0 + Int($1) }
            if value == 0 || value == 100, last == nil { continue }
            if last == nil { current.append("\(xs[i - 1]),\(y(value))") }
            if let last, last != value { current.append("\(xs[i - 1]),\(y(last))"); current.append("\(xs[i - 1]),\(y(value))") }
            if i == samples.count - 1 || samples[i + 1].shares == nil { current.append("\(xs[i]),\(y(value))") }
            last = value
        }
        if current.count > 1 { runs.append(current.joined(separator: " ")) }
        return runs
    }
}
