import Prometheus
import WeightTable
import XCTest

@testable import ZoneAgent

/// A failover and its failback are one event each, whatever number of slow-start steps the failback takes: in
/// the metrics (`zone_agent_failovers_total`, `zone_agent_failbacks_total`, `zone_agent_routing_changes_total{kind}`)
/// and on the status page.
final class RoutingChangeLogTests: XCTestCase {
    func testOneFailoverAndOneFailbackWhateverTheSlowStartSteps() {
        var mesh = StatusScenario(seed: ())
        mesh.run(seconds: 10)
        XCTAssertEqual(mesh.table.routes[0].clusters.map(\.effectiveWeight), [20, 80])
        XCTAssertTrue(mesh.classified.allSatisfy { $0.kind == .initial }, "the clusters' first shares are not failbacks: \(mesh.classified.map(\.kind))")
        let startup = mesh.classified.count

        mesh.kill("c2")
        mesh.run(seconds: 5)
        mesh.revive("c2")
        mesh.run(seconds: 30)
        XCTAssertEqual(mesh.table.routes[0].clusters.map(\.effectiveWeight), [20, 80], "back at 20/80 after hold-down and slow start")

        let kinds = mesh.classified.dropFirst(startup).map(\.kind)
        let changesOfC2 = mesh.classified.dropFirst(startup).filter { $0.change.cluster == "c2" }
        XCTAssertGreaterThan(changesOfC2.count, 5, "the table itself records every ramp step: \(changesOfC2.map { "\($0.change.from)→\($0.change.to)" })")
        XCTAssertEqual(kinds.filter { $0 == .failover }.count, 1, "\(kinds)")
        XCTAssertEqual(kinds.filter { $0 == .failback }.count, 1, "\(kinds)")
        XCTAssertGreaterThan(kinds.filter { $0 == .slowStart }.count, 5, "\(kinds)")
        XCTAssertEqual(mesh.classified.dropFirst(startup).first { $0.kind == .failover }?.change.cluster, "c2")

        // The log: the failover with c1 taking the share folded in, and the failback with every step folded in.
        let entries = mesh.events.entries.filter { $0.kind != .initial }
        XCTAssertEqual(entries.map(\.kind), [.failover, .failback], "\(entries)")
        XCTAssertEqual(entries[0].folded, 1, "c1 taking c2's share")
        let failback = entries[1]
        XCTAssertEqual(failback.cluster, "c2")
        XCTAssertEqual(failback.from, 0)
        XCTAssertEqual(failback.to, 80, "the folded entry ends at the full share")
        XCTAssertGreaterThan(failback.folded, 5)
        XCTAssertGreaterThan(failback.untilMillis, failback.atMillis)
    }

    func testTheCountersSeeOneFailoverAndOneFailback() {
        let registry = PrometheusCollectorRegistry()
        let metrics = TableMetrics(registry: registry)
        var mesh = StatusScenario(seed: ())
        metrics.declare(routes: mesh.routes)
        let before = registry.emitToString()
        XCTAssertEqual(MetricsPage.value(before, #"zone_agent_failovers_total{route="alb.ingress.alibaba.com/svc1",cluster="c2"}"#), 0, before)
        XCTAssertEqual(MetricsPage.value(before, #"zone_agent_failbacks_total{route="alb.ingress.alibaba.com/svc1",cluster="c2"}"#), 0, before)
        XCTAssertEqual(MetricsPage.value(before, #"zone_agent_routing_changes_total{kind="slow_start"}"#), 0, before)

        mesh.run(seconds: 10)
        mesh.kill("c2")
        mesh.run(seconds: 5)
        mesh.revive("c2")
        mesh.run(seconds: 30)
        metrics.changed(mesh.classified)
        metrics.published(mesh.table)
        let after = registry.emitToString()
        XCTAssertEqual(MetricsPage.value(after, #"zone_agent_failovers_total{route="alb.ingress.alibaba.com/svc1",cluster="c2"}"#), 1, after)
        XCTAssertEqual(MetricsPage.value(after, #"zone_agent_failbacks_total{route="alb.ingress.alibaba.com/svc1",cluster="c2"}"#), 1, after)
        XCTAssertEqual(MetricsPage.value(after, #"zone_agent_failovers_total{route="alb.ingress.alibaba.com/svc1",cluster="c1"}"#), 0, after)
        XCTAssertEqual(MetricsPage.value(after, #"zone_agent_routing_changes_total{kind="failover"}"#), 1, after)
        XCTAssertEqual(MetricsPage.value(after, #"zone_agent_routing_changes_total{kind="failback"}"#), 1, after)
        XCTAssertEqual(MetricsPage.value(after, #"zone_agent_cluster_state{route="alb.ingress.alibaba.com/svc1",cluster="c2",state="active"}"#), 1, after)
        XCTAssertEqual(MetricsPage.value(after, #"zone_agent_effective_weight{route="alb.ingress.alibaba.com/svc1",cluster="c2"}"#), 80, after)
        XCTAssertEqual(MetricsPage.value(after, #"zone_agent_configured_weight{route="alb.ingress.alibaba.com/svc1",cluster="c1"}"#), 20, after)
        XCTAssertEqual(MetricsPage.value(after, #"zone_agent_endpoints_healthy{route="alb.ingress.alibaba.com/svc1",cluster="c1"}"#), 2, after)
    }

    func testAClusterThatNeverServedIsNotFailedBackAndTheLogIsBounded() {
        var log = RoutingChangeLog()
        let table = RoutingTable.empty
        for i in 0..<(RoutingChangeLog.limit + 50) {
            log.record([WeightChange(atMillis: UInt64(i), route: "r", cluster: "c\(i)", from: 0, to: 10, reason: "")], in: table)
        }
        XCTAssertEqual(log.entries.count, RoutingChangeLog.limit)
        XCTAssertTrue(log.entries.allSatisfy { $0.kind == .initial })
        XCTAssertEqual(log.entries.last?.cluster, "c\(RoutingChangeLog.limit + 49)")
    }
}
