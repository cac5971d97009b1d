import AsyncHTTPClient
import Foundation
import NIOCore
import XCTest

@testable import ZoneAgent

/// deploy/agents/monitoring as Prometheus reads it: the alert rules pass `promtool check rules` and their unit
/// tests (`promtool test rules`), and every query of the Grafana dashboard parses.
final class MonitoringRulesTests: XCTestCase {
    let monitoring = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("deploy/agents/monitoring").path

    func testAlertRulesCheckAndPassTheirUnitTests() throws {
        let check = try PromtoolCheck.run(["check", "rules", "alerts.yaml"], in: monitoring)
        XCTAssertEqual(check.status, 0, check.output)
        XCTAssertTrue(check.output.contains("SUCCESS: 7 rules found"), check.output)
        let test = try PromtoolCheck.run(["test", "rules", "alerts_test.yaml"], in: monitoring)
        XCTAssertEqual(test.status, 0, test.output)
        XCTAssertTrue(test.output.contains("SUCCESS"), test.output)
    }

    /// Each panel's query, with the dashboard's variables filled in, as a recording rule that promtool parses.
    func testEveryDashboardQueryParses() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: monitoring + "/grafana-dashboard.json"))
        let dashboard = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let panels = try XCTUnwrap(dashboard["panels"] as? [[String: Any]])
        var queries = panels.flatMap { ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String } }
        queries += ((dashboard["annotations"] as? [String: Any])?["list"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String }
        XCTAssertGreaterThan(queries.count, 12)
        let titles = panels.compactMap { $0["title"] as? String }.joined(separator: "\n")
        for subject in ["Effective weight per cluster", "Failovers and failbacks", "Failure detection latency", "Proxy upstream latency"] {
            XCTAssertTrue(titles.contains(subject), "the dashboard shows \(subject)")
        }
        var rules = "groups:\n  - name: dashboard\n    rules:\n"
        for (i, query) in queries.enumerated() {
            let filled = query.replacingOccurrences(of: "$__rate_interval", with: "1m").replacingOccurrences(of: "$__interval", with: "1m")
                .replacingOccurrences(of: "$instance", with: ".*").replacingOccurrences(of: "$route", with: ".*")
            XCTAssertFalse(filled.contains("$"), "an unknown variable in \(query)")
            rules += "      - record: dashboard:query\(i)\n        expr: '\(filled.replacingOccurrences(of: "'", with: "''"))'\n"
        }
        let file = NSTemporaryDirectory() + "dashboard-rules-\(UUID().uuidString.prefix(8)).yaml"
        try rules.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let check = try PromtoolCheck.run(["check", "rules", file])
        XCTAssertEqual(check.status, 0, check.output + "\n" + rules)
    }
}

/// A real mesh on loopback (two clusters of three agents, a gateway on the seed's Ingress): `promtool check
/// metrics` finds nothing on the gateway's and an agent's `/metrics`; then c2 is killed and the status page is
/// opened in headless Chromium during the failover. About 11 s here.
final class MonitoringLiveTests: XCTestCase {
    func testLiveMetricsPassPromtoolAndTheStatusPageShowsTheFailover() async throws {
        let binary = try BuiltBinary.path()
        _ = try HeadlessChromium.require()
        var layout = LocalMesh.Layout()
        layout.holdDown = "2s"
        layout.slowStart = "2s"
        let mesh = try LocalMesh(directory: NSTemporaryDirectory() + "monitoring-\(UUID().uuidString.prefix(8))", binary: binary, layout: layout)
        defer {
            mesh.stopAll()
            try? FileManager.default.removeItem(atPath: mesh.dir)
        }
        try mesh.writeConfiguration()
        for cluster in mesh.clusters { try mesh.startCluster(cluster) }
        try mesh.startGateway()
        try await mesh.waitFor("both clusters active at 20/80", timeout: .seconds(30)) { await mesh.isSteady() }
        let split = try await mesh.split(100)
        XCTAssertEqual(split, ["web-demo-c1": 20, "web-demo-c2": 80])

        func get(_ url: String) async -> String? {
            guard let response = try? await mesh.http.execute(HTTPClientRequest(url: url), timeout: .seconds(5)), response.status == .ok,
                  let body = try? await response.body.collect(upTo: 8 << 20) else { return nil }
            return String(buffer: body)
        }
        func value(_ page: String, _ series: String) -> Double? {
            page.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last!) }
        }
        let agentPage = await get("http://\(mesh.ip(mesh.group(of: "c1"), 1)):9101/metrics")
        let gatewayPage = await get(mesh.adminURL + "/metrics")
        let agentMetrics = try XCTUnwrap(agentPage)
        let gatewayMetrics = try XCTUnwrap(gatewayPage)
        try PromtoolCheck.metrics(agentMetrics)
        try PromtoolCheck.metrics(gatewayMetrics)
        // Rendezvous hashing gives each endpoint two of the cluster's three agents, and which two depends on the
        // mesh's addresses: one agent may probe nothing (1 run in 9), so count the cluster's agents together.
        var probes = 0.0, timed = 0.0
        for host in 1...layout.agentsPerCluster {
            let page = await get("http://\(mesh.ip(mesh.group(of: "c1"), host)):9101/metrics") ?? ""
            probes += value(page, #"zone_agent_probes_total{result="success"}"#) ?? 0
            timed += value(page, #"zone_agent_probe_duration_seconds_count{result="success"}"#) ?? 0
        }
        XCTAssertGreaterThan(probes, 0)
        XCTAssertGreaterThan(timed, 0)
        XCTAssertEqual(value(gatewayMetrics, #"zone_agent_build_info{version="\#(ZoneAgentVersion.current)"}"#), 1)
        XCTAssertEqual(value(gatewayMetrics, "zone_agent_gateway_isolated"), 0)
        XCTAssertEqual(value(gatewayMetrics, #"zone_agent_effective_weight{route="alb.ingress.alibaba.com/svc1",cluster="c2"}"#), 80)
        XCTAssertGreaterThanOrEqual(value(gatewayMetrics, #"zone_agent_proxy_upstream_latency_seconds_count{cluster="c2"}"#) ?? 0, 80)
        XCTAssertGreaterThan(value(gatewayMetrics, "zone_agent_digest_age_seconds_count") ?? 0, 0)
        XCTAssertGreaterThan(value(gatewayMetrics, "process_resident_memory_bytes") ?? 0, 1_000_000)

        // The share history samples every two seconds: the chart must have drawn c2 serving before it fails.
        try await mesh.waitFor("c2's share sampled for the chart", timeout: .seconds(10)) {
            await get(mesh.adminURL + "/")?.contains("<polygon class=\"weight\" data-cluster=\"c2\"") ?? false
        }
        // c2 lost: its agents and backends killed while requests flow.
        mesh.kill(mesh.agentNames("c2") + mesh.backendNames("c2"))
        try await mesh.waitFor("table at 100/0", timeout: .seconds(15)) { await mesh.weights() == ["c1": 100, "c2": 0] }
        _ = try await mesh.split(40)
        try await mesh.waitFor("the failure confirmed (dead) and timed", timeout: .seconds(20)) {
            guard let page = await get(mesh.adminURL + "/metrics") else { return false }
            return (value(page, "zone_agent_failure_detection_seconds_count") ?? 0) >= 1
        }
        _ = try await mesh.split(40)   // two more share samples after the failover
        let afterPage = await get(mesh.adminURL + "/metrics")
        let after = try XCTUnwrap(afterPage)
        XCTAssertEqual(value(after, #"zone_agent_failovers_total{route="alb.ingress.alibaba.com/svc1",cluster="c2"}"#), 1)
        XCTAssertEqual(value(after, #"zone_agent_cluster_state{route="alb.ingress.alibaba.com/svc1",cluster="c2",state="failed"}"#), 1)
        XCTAssertEqual(value(after, #"zone_agent_routing_changes_total{kind="failover"}"#), 1)
        try PromtoolCheck.metrics(after)

        let dom = try HeadlessChromium.dom(mesh.adminURL + "/")
        XCTAssertTrue(dom.contains("<svg class=\"shares\" data-route=\"alb.ingress.alibaba.com/svc1\""), "the chart is there")
        XCTAssertTrue(dom.contains("<polygon class=\"weight\" data-cluster=\"c2\""), "c2's band until it failed")
        XCTAssertTrue(dom.contains("failed over: c2"), "the banner")
        XCTAssertTrue(dom.contains("<b class=\"active\">100</b>"), "c1's weight 100 is shown")
        XCTAssertTrue(dom.contains("<b class=\"failed\">0</b>"), "c2's weight 0 is shown")
        XCTAssertTrue(dom.contains("data-kind=\"failover\""), "the failover is in the changes")
        let png = mesh.dir + "/status.png"
        try HeadlessChromium.screenshot(mesh.adminURL + "/", png: png, width: 1280, height: 1000)
        let keep = NSTemporaryDirectory() + "zone-agent-status-live.png"
        try? FileManager.default.removeItem(atPath: keep)
        try FileManager.default.copyItem(atPath: png, toPath: keep)
        print("live status page screenshot: \(keep)")
    }
}
