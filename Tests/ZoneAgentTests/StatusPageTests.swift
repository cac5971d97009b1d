import Foundation
import XCTest

@testable import ZoneAgent

/// The gateway's status page at the size the issue names (20 clusters, 50 routes) during a failover: one line
/// per route with its chart, the failed cluster on top, a failback with its slow-start steps on one line, the
/// endpoints with the agents that vouch for them; opened in headless Chromium, the screenshot kept to look at.
final class StatusPageTests: XCTestCase {
    /// 20 clusters, 50 routes: c03 failed over at 60 s and came back at 90 s (hold-down, slow start); c07 failed at
    /// 160 s and is still down at 180 s, when the page is drawn.
    func scenario() -> StatusScenario {
        var mesh = StatusScenario(clusters: 20, routes: 50)
        mesh.run(seconds: 60)
        mesh.kill("c03")
        mesh.run(seconds: 30)
        mesh.revive("c03")
        mesh.run(seconds: 70)
        mesh.kill("c07")
        mesh.run(seconds: 20)
        return mesh
    }

    func testTheFailoverIsReadableAt20ClustersAnd50Routes() throws {
        let mesh = scenario()
        let html = StatusPage.render(mesh.page())
        // Small enough to reload every two seconds.
        XCTAssertLessThan(html.utf8.count, 600_000, "page size \(html.utf8.count) bytes")
        XCTAssertEqual(html.components(separatedBy: "<svg class=\"shares\"").count - 1, 50, "a chart per route")
        XCTAssertTrue(html.contains("failed over: c07"), "the banner names the failed cluster")
        XCTAssertTrue(html.contains("href=\"/v1/table\"") && html.contains("href=\"/metrics\""))
        XCTAssertTrue(html.contains("version \(ZoneAgentVersion.current)"))
        XCTAssertTrue(html.contains("up 3m 00s"), "uptime")
        // c03's failback is one line however many steps and routes; so are c03's and c07's failovers.
        let c03Routes = mesh.routes.filter { $0.weights["c03"] != nil }.count
        XCTAssertEqual(html.components(separatedBy: "data-kind=\"failback\"").count - 1, 1, "one failback line")
        XCTAssertEqual(html.components(separatedBy: "data-kind=\"failover\"").count - 1, 2, "one failover line per cluster")
        XCTAssertTrue(html.contains("<summary>\(c03Routes) routes</summary>"), "the routes are folded into the line")
        XCTAssertTrue(html.contains("slow start:"), "the folded steps are counted on the line")
        XCTAssertFalse(html.contains("data-kind=\"slow_start\""), "no step shows as a line of its own")
        XCTAssertFalse(html.contains("data-kind=\"rebalance\""), "the others taking a failed cluster's share fold into its failover")
        // Endpoints with who vouches for them: c07's agent is dead, so its endpoints are unknown and unfolded.
        XCTAssertTrue(html.contains("<details class=\"endpoints\" data-cluster=\"c07\" open>"), "a cluster with a problem is unfolded")
        XCTAssertTrue(html.contains("c07-a: healthy (agent dead, does not count)"))
        XCTAssertTrue(html.contains("c01-a: healthy"))

        let dir = NSTemporaryDirectory() + "status-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try html.write(toFile: dir + "/status.html", atomically: true, encoding: .utf8)
        let dom = try HeadlessChromium.dom("file://\(dir)/status.html")
        XCTAssertGreaterThan(dom.utf8.count, 100_000, "Chromium gave back the page: \(dom.prefix(500))")
        // As the browser built it: every route's chart with its bands, and the weights as numbers.
        XCTAssertEqual(dom.components(separatedBy: "<svg class=\"shares\"").count - 1, 50, "charts in the DOM")
        XCTAssertTrue(dom.contains("<polygon class=\"weight\" data-cluster=\"c07\""), "c07's band is drawn (until it failed)")
        XCTAssertTrue(dom.contains("<polyline class=\"share\""), "the actual shares are drawn")
        XCTAssertTrue(dom.contains("<line class=\"event failover\""), "the failover is marked on the charts")
        XCTAssertTrue(dom.contains("data-cluster=\"c07\" title=\"configured"), "c07's weights are shown")
        XCTAssertTrue(dom.contains("<b class=\"failed\">0</b>"), "a failed cluster's effective weight 0 is shown")
        let png = dir + "/status.png"
        try HeadlessChromium.screenshot("file://\(dir)/status.html", png: png, width: 1280, height: 1100)
        keep(png, as: "zone-agent-status-20x50.png")
        keep(dir + "/status.html", as: "zone-agent-status-20x50.html")
    }

    func testTheSeedRouteDuringAFailover() throws {
        var mesh = StatusScenario(seed: ())
        mesh.run(seconds: 40)
        mesh.kill("c2")
        mesh.run(seconds: 30)
        mesh.revive("c2")
        mesh.run(seconds: 40)
        mesh.kill("c2")
        mesh.run(seconds: 10)
        let html = StatusPage.render(mesh.page())
        XCTAssertTrue(html.contains("failed over: c2"))
        XCTAssertEqual(html.components(separatedBy: "<svg class=\"shares\"").count - 1, 1)
        let dir = NSTemporaryDirectory() + "status-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try html.write(toFile: dir + "/status.html", atomically: true, encoding: .utf8)
        try HeadlessChromium.screenshot("file://\(dir)/status.html", png: dir + "/status.png", width: 1280, height: 900)
        keep(dir + "/status.png", as: "zone-agent-status-seed.png")
    }

    func testPercentagesAddUpTo100() {
        XCTAssertEqual(ShareHistory.percentages([1, 1, 1], total: 3), [34, 33, 33])
        XCTAssertEqual(ShareHistory.percentages([20, 80], total: 100), [20, 80])
        XCTAssertEqual(ShareHistory.percentages([0, 7], total: 7), [0, 100])
        XCTAssertEqual(ShareHistory.percentages((0..<20).map { _ in 1 }, total: 20).reduce(0) { $0 + Int($1) }, 100)
    }

    func testTheHistoryKeepsFiveMinutesAndForgetsRoutesThatAreGone() {
        var mesh = StatusScenario(seed: ())
        mesh.run(seconds: 400)
        let series = mesh.history.all()
        XCTAssertEqual(series.count, 1)
        XCTAssertEqual(series.values.first?.samples.count, 151, "five minutes at one sample every two seconds, both ends in")
        let history = ShareHistory()
        for i in 0..<(ShareHistory.capacity + 50) { history.sample(mesh.table, counts: [:], atMillis: UInt64(i)) }
        XCTAssertEqual(history.all().values.first?.samples.count, ShareHistory.capacity, "bounded however fast tables come")
        XCTAssertEqual(series.values.first?.samples.last?.shares, [20, 80], "requests follow the weights")
        mesh.history.sample(.empty, counts: [:], atMillis: 0)
        XCTAssertTrue(mesh.history.all().isEmpty)
    }

    func testHTMLInNamesIsEscaped() {
        XCTAssertEqual(StatusPage.escape("<b a=\"1\">&"), "&lt;b a=&quot;1&quot;&gt;&amp;")
    }

    /// Keeps a screenshot (or the page) where a person can look at it: `make test` prints where.
    func keep(_ png: String, as name: String) {
        let keep = NSTemporaryDirectory() + name
        try? FileManager.default.removeItem(atPath: keep)
        try? FileManager.default.copyItem(atPath: png, toPath: keep)
        print("status page kept for a look: \(keep)")
    }
}
