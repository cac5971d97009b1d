import Foundation

/// `report.html`: one self-contained page (inline CSS and SVG, nothing fetched) with, per drill, the verdict, the
/// figures, a chart of each cluster's share of requests and of its table weight per 100 ms with the fault and
/// the recovery marked, and the reasons the table gave.
enum DrillHTML {
    static let palette = ["#2f6fdf", "#e8772e", "#2a9d58", "#9b4dca", "#c9a227", "#d6336c"]

    static func render(_ reports: [DrillReport]) -> String {
        let verdict = reports.allSatisfy(\.held) ? "held" : "FAILED"
        let title = reports.count == 1 ? "zone-agent drill: \(reports[0].scenario)" : "zone-agent drills (\(reports.count))"
        return """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
        <style>
        body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #1d2330; max-width: 1000px; }
        h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; border-top: 1px solid #ddd; padding-top: 16px; }
        .held { color: #1f7a3e; font-weight: 600; } .failed { color: #b3261e; font-weight: 600; }
        table { border-collapse: collapse; margin: 8px 0; } td, th { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: left; }
        th { color: #555; font-weight: 500; } .mono { font-family: ui-monospace, monospace; font-size: 12px; }
        svg text { font: 11px system-ui, sans-serif; fill: #444; }
        </style></head><body>
        <h1>\(escape(title)) — <span class="\(verdict == "held" ? "held" : "failed")">\(verdict)</span></h1>
        \(reports.map(section).joined(separator: "\n"))
        </body></html>

        """
    }

    static func section(_ r: DrillReport) -> String {
        let rows = figureRows(r.figures, rate: r.rate, cluster: r.cluster, moved: "fault → table moved", servedAfterDrop: true)
        let checks = r.checks.map {
            "<li class=\"\($0.held ? "held" : "failed")\">\($0.held ? "✓" : "✗") \(escape($0.what))</li>"
        }.joined()
        // With several gateways, each lists its own reasons under its chart.
        let reasons = """
        <details><summary>the table's reasons (\(r.reasons.count) changes)</summary>
        <table><tr><th>at</th><th>cluster</th><th>weight</th><th>reason</th></tr>\(reasonRows(r.reasons))</table></details>
        """
        let events = r.events.map { "<tr><td>\(seconds(Double($0.atMs) / 1000))</td><td>\($0.kind.rawValue)</td><td>\(escape($0.what))</td></tr>" }.joined()
        return """
        <h2>\(escape(r.scenario)) on \(escape(r.cluster)) — <span class="\(r.held ? "held" : "failed")">\(r.verdict)</span></h2>
        <p>\(escape(r.expectation)).<br><span class="mono">profile \(escape(r.profile)), started \(escape(r.startedAt)), configured \(escape(weights(r.configuredWeights)))</span></p>
        \(r.gateways.map { $0.map { gatewaySection($0, r) }.joined(separator: "\n") } ?? chart(r) + "<table>\(rows)</table>")
        <ul>\(checks)</ul>
        <table><tr><th>at</th><th>what</th><th></th></tr>\(events)</table>
        \(r.gateways == nil ? reasons : "")
        """
    }

    /// Each cluster's share of requests (solid, over the last 500 ms so 5 requests a bucket do not read as noise)
    /// and its table weight (dashed), failed requests as red ticks, the fault and recovery as vertical lines.
    static func chart(_ r: DrillReport) -> String { chart(r.timeline, configured: r.configuredWeights, events: r.events) }

    static func chart(_ timeline: DrillTimeline, configured: [String: Int], events: [DrillRecord.Event]) -> String {
        let buckets = timeline.buckets
        guard buckets.count > 1 else { return "<p>(no timeline)</p>" }
        let width = 920.0, height = 250.0, left = 40.0, top = 10.0
        let plotW = width - left - 30, plotH = height - top - 40
        let span = Double(buckets.count - 1)
        func x(_ i: Int) -> Double { left + plotW * Double(i) / span }
        func xMs(_ ms: Int) -> Double { left + plotW * Double(ms) / Double(DrillTimeline.bucketMs) / span }
        func xEnd(_ i: Int) -> Double { min(left + plotW, xMs((i + 1) * DrillTimeline.bucketMs)) }
        func y(_ percent: Double) -> Double { top + plotH * (1 - percent / 100) }
        let clusters = configured.keys.sorted()
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\" aria-label=\"share of requests per cluster\">"
        for p in stride(from: 0.0, through: 100.0, by: 25.0) {
            svg += "<line x1=\"\(left)\" x2=\"\(left + plotW)\" y1=\"\(y(p))\" y2=\"\(y(p))\" stroke=\"#eee\"/><text x=\"4\" y=\"\(y(p) + 4)\">\(Int(p))%</text>"
        }
        let seconds = buckets.count * DrillTimeline.bucketMs / 1000
        let step = max(1, seconds / 10)
        for s in stride(from: 0, through: seconds, by: step) {
            svg += "<text x=\"\(xMs(s * 1000) - 6)\" y=\"\(top + plotH + 16)\">\(s)s</text>"
        }
        for event in events {
            let color = event.kind == .fault ? "#b3261e" : event.kind == .recovery ? "#1f7a3e" : "#999"
            svg += "<line x1=\"\(xMs(event.atMs))\" x2=\"\(xMs(event.atMs))\" y1=\"\(top)\" y2=\"\(top + plotH)\" stroke=\"\(color)\" stroke-width=\"1.5\"><title>\(escape(event.what))</title></line>"
        }
        for (n, cluster) in clusters.enumerated() {
            let color = palette[n % palette.count]
            var share: [String] = [], weight: [String] = []
            for i in buckets.indices {
                // A trailing window: the drawn share never moves before the requests that moved it.
                let window = buckets[max(0, i - 4)...i]
                let total = window.reduce(0) { $0 + $1.served.values.reduce(0, +) + $1.failed }
                if total > 0 {
                    let mine = window.reduce(0) { $0 + ($1.served[cluster] ?? 0) }
                    // Drawn at the bucket's end: the share so far, never ahead of the fault that moved it.
                    share.append("\(xEnd(i)),\(y(100 * Double(mine) / Double(total)))")
                }
                if let w = buckets[i].weights[cluster] { weight.append("\(xEnd(i)),\(y(Double(w)))") }
            }
            svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(share.joined(separator: " "))\"/>"
            svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\" stroke-dasharray=\"5 4\" opacity=\"0.8\" points=\"\(weight.joined(separator: " "))\"/>"
        }
        for (n, cluster) in clusters.enumerated() {
            let x0 = left + Double(n) * 300
            svg += "<rect x=\"\(x0)\" y=\"\(height - 6)\" width=\"14\" height=\"4\" fill=\"\(palette[n % palette.count])\"/>"
            svg += "<text x=\"\(x0 + 18)\" y=\"\(height - 1)\">\(escape(cluster)) share of requests (solid), table weight (dashed)</text>"
        }
        for (i, bucket) in buckets.enumerated() where bucket.failed > 0 {
            svg += "<line x1=\"\(x(i))\" x2=\"\(x(i))\" y1=\"\(top + plotH - 12)\" y2=\"\(top + plotH)\" stroke=\"#b3261e\" stroke-width=\"2\"><title>\(bucket.failed) failed</title></line>"
        }
        return svg + "</svg>"
    }

    /// One gateway of a drill that watches several: its chart and figures, under its name and side.
    static func gatewaySection(_ g: DrillReport.Gateway, _ r: DrillReport) -> String {
        let rows = figureRows(g.figures, rate: r.rate, cluster: g.cluster, moved: "fault → table dropped \(g.cluster)", servedAfterDrop: false)
        return """
        <h3>\(escape(g.name)), the side of \(escape(g.side.joined(separator: ", ")))</h3>
        \(chart(g.timeline, configured: r.configuredWeights, events: r.events))
        <table>\(rows)</table>
        <details><summary>\(escape(g.name))'s reasons (\(g.reasons.count) changes)</summary>
        <table><tr><th>at</th><th>cluster</th><th>weight</th><th>reason</th></tr>\(reasonRows(g.reasons))</table></details>
        """
    }

    /// The figures of one observed gateway as table rows.
    static func figureRows(_ f: DrillFigures, rate: Int, cluster: String, moved: String, servedAfterDrop: Bool) -> String {
        var figures: [(String, String)] = [
            ("requests", "\(f.requests) at \(rate)/s, \(f.failedRequests) failed"),
            (moved, seconds(f.failoverTableSeconds)),
            ("fault → last request served by \(cluster)", seconds(f.failoverTrafficSeconds)),
            ("recovery → weights back", seconds(f.failbackSeconds)),
        ]
        if servedAfterDrop { figures.append(("served by \(cluster) after the table dropped it", "\(f.servedAfterDrop)")) }
        figures.append(("weight changes / failovers / flaps", "\(f.weightChanges) / \(f.failovers) / \(f.flaps)"))
        if !f.failures.isEmpty { figures.append(("first failures", f.failures.joined(separator: "; "))) }
        return figures.map { "<tr><th>\(escape($0.0))</th><td>\(escape($0.1))</td></tr>" }.joined()
    }

    static func reasonRows(_ reasons: [DrillReport.Reason]) -> String {
        reasons.map {
            "<tr><td>\(seconds(Double($0.atMs) / 1000))</td><td>\(escape($0.cluster))</td><td>\($0.weight)</td><td>\(escape($0.reason))</td></tr>"
        }.joined()
    }

    static func seconds(_ s: Double?) -> String { s.map { String(format: "%.2f s", $0) } ?? "—" }

    static func weights(_ w: [String: Int]) -> String { w.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: " / ") }

    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }
}
