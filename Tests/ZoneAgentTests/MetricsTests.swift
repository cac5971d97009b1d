import Foundation
import GatewayHTTP
import Gossip
import GossipNIO
import Prometheus
import Wire
import XCTest

@testable import ZoneAgent

/// The metrics page as Prometheus's own checker and an operator's alerts need it: help on every family, every
/// counter at 0 from the start, no total inside a label, histograms in seconds, handles made once.
final class MetricsTests: XCTestCase {
    /// Every family of both roles on one registry, as a gateway with routes declared.
    func fullRegistry() -> (PrometheusCollectorRegistry, ProxyMetrics) {
        let registry = PrometheusCollectorRegistry()
        _ = MeshMetrics(registry: registry)
        _ = GossipTransportMetrics(registry: registry)
        _ = ProbeMetrics(registry: registry)
        let table = TableMetrics(registry: registry)
        table.declare(routes: StatusScenario(seed: ()).routes)
        _ = OutputMetrics(registry: registry)
        _ = AdminMetrics(registry: registry)
        _ = ProcessMetrics(registry: registry, version: "9.9.9")
        return (registry, ProxyMetrics(registry: registry, clusters: ["c1", "c2"]))
    }

    /// The families of a rendered page: name → (type, help).
    func families(_ text: String) -> [String: (type: String?, help: String?)] {
        var out: [String: (type: String?, help: String?)] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("# ") {
            let parts = line.split(separator: " ", maxSplits: 3)
            guard parts.count >= 3 else { continue }
            let name = String(parts[2])
            if parts[1] == "TYPE" { out[name, default: (nil, nil)].type = parts.count > 3 ? String(parts[3]) : nil }
            if parts[1] == "HELP" { out[name, default: (nil, nil)].help = parts.count > 3 ? String(parts[3]) : "" }
        }
        return out
    }

    func testEveryFamilyHasHelpAndEveryCounterIsThereAtZero() throws {
        let (registry, _) = fullRegistry()
        let text = registry.emitToString()
        let families = families(text)
        XCTAssertGreaterThan(families.count, 30)
        for (name, family) in families {
            XCTAssertFalse((family.help ?? "").isEmpty, "\(name) has no help text")
        }
        // Counters that alerts use are there before their first event.
        for series in [
            #"zone_agent_records_rejected_total{reason="bad_signature"} 0"#,
            #"zone_agent_member_transitions_total{to="dead"} 0"#,
            #"zone_agent_suspicions_total 0"#,
            #"zone_agent_digests_accepted_total 0"#,
            #"zone_agent_name_conflicts_total 0"#,
            #"zone_agent_probes_total{result="failure"} 0"#,
            #"zone_agent_packets_dropped_total{reason="open_failed"} 0"#,
            #"zone_agent_state_syncs_total{result="failed"} 0"#,
            #"zone_agent_output_failures_total{output="envoy"} 0"#,
            #"zone_agent_proxy_requests_total{cluster="c2",status="503"} 0"#,
            #"zone_agent_proxy_requests_total{cluster="none",status="503"} 0"#,
            #"zone_agent_proxy_retries_total{from="c2",reason="connect_failed"} 0"#,
            #"zone_agent_proxy_upstream_failures_total{cluster="c1",reason="response_timeout"} 0"#,
            #"zone_agent_failovers_total{route="alb.ingress.alibaba.com/svc1",cluster="c1"} 0"#,
            #"zone_agent_routing_changes_total{kind="failover"} 0"#,
            #"zone_agent_admin_encode_failures_total{path="/v1/members"} 0"#,
            #"zone_agent_build_info{version="9.9.9"} 1"#,
            #"zone_agent_gateway_isolated 0"#,
        ] {
            let parts = series.split(separator: " ")
            XCTAssertEqual(MetricsPage.value(text, String(parts[0])), Double(parts[1]), "missing at start: \(series)")
        }
        for (name, type) in [("zone_agent_probe_duration_seconds", "histogram"), ("zone_agent_proxy_upstream_latency_seconds", "histogram"),
                             ("zone_agent_table_rebuild_seconds", "histogram"), ("zone_agent_digest_age_seconds", "histogram"),
                             ("zone_agent_failure_detection_seconds", "histogram"), ("process_cpu_seconds_total", "counter"),
                             ("process_resident_memory_bytes", "gauge"), ("process_open_fds", "gauge"), ("process_start_time_seconds", "gauge")] {
            XCTAssertEqual(families[name]?.type, type, name)
        }
        try PromtoolCheck.metrics(text)
    }

    func testGossipDropsHaveNoTotalInsideALabel() {
        let registry = PrometheusCollectorRegistry()
        let gossip = GossipTransportMetrics(registry: registry)
        var now = GossipCounters()
        now.dropped = ["too_short": 3, "a_new_reason": 2]
        now.packetsReceived = 10
        gossip.add(now, since: GossipCounters())
        var later = now
        later.dropped["too_short"] = 5
        gossip.add(later, since: now)
        let text = registry.emitToString()
        XCTAssertFalse(text.contains(#"reason="any""#), "the sum is sum(zone_agent_packets_dropped_total), not a label")
        XCTAssertEqual(MetricsPage.value(text, #"zone_agent_packets_dropped_total{reason="too_short"}"#), 5, text)
        XCTAssertEqual(MetricsPage.value(text, #"zone_agent_packets_dropped_total{reason="a_new_reason"}"#), 2, text)
        XCTAssertEqual(MetricsPage.value(text, #"zone_agent_gossip_packets_total{direction="received"}"#), 10, text)
    }

    func testProxyHooksReuseTheirHandlesAndTimeUpstreams() {
        let (registry, proxy) = fullRegistry()
        let hooks = proxy.hooks()
        XCTAssertTrue(proxy.series("c1") === proxy.series("c1"), "one series object per cluster, made at start")
        XCTAssertTrue(proxy.series("c1").requests(status: 200) === proxy.series("c1").requests(status: 200))
        for _ in 0..<1000 {
            hooks.onResponse("c1", 200)
            hooks.onUpstreamLatency("c1", .milliseconds(3))
        }
        hooks.onResponse(nil, 404)
        hooks.onRetry("c2", "c1", .connectFailed)
        hooks.onUpstreamFailure(Upstream(cluster: "c2", host: "127.0.0.1", port: 1), .connectFailed)
        let text = registry.emitToString()
        XCTAssertEqual(MetricsPage.value(text, #"zone_agent_proxy_requests_total{cluster="c1",status="200"}"#), 1000, text)
        XCTAssertEqual(MetricsPage.value(text, #"zone_agent_proxy_requests_total{cluster="none",status="404"}"#), 1, text)
        XCTAssertEqual(MetricsPage.value(text, #"zone_agent_proxy_retries_total{from="c2",reason="connect_failed"}"#), 1, text)
        XCTAssertEqual(MetricsPage.value(text, #"zone_agent_proxy_upstream_failures_total{cluster="c2",reason="connect_failed"}"#), 1, text)
        XCTAssertEqual(MetricsPage.value(text, #"zone_agent_proxy_upstream_latency_seconds_bucket{cluster="c1",le="0.0025"}"#), 0, text)
        XCTAssertEqual(MetricsPage.value(text, #"zone_agent_proxy_upstream_latency_seconds_bucket{cluster="c1",le="0.005"}"#), 1000, text)
        XCTAssertEqual(MetricsPage.value(text, #"zone_agent_proxy_upstream_latency_seconds_count{cluster="c1"}"#), 1000, text)
    }

    func testDigestAgeIsReceivedMinusIssuedAndNeverNegative() {
        let registry = PrometheusCollectorRegistry()
        let mesh = MeshMetrics(registry: registry)
        let origin = MemberIdentity(name: "c1-a", cluster: "c1", generation: 1)
        let digest = HealthDigest(origin: origin, incarnation: 1, version: 1, issuedAtMillis: 10_000, endpoints: [])
        mesh.digestAccepted(digest, receivedAtMillis: 10_040)
        mesh.digestAccepted(digest, receivedAtMillis: 9_000)   // the sender's clock is ahead
        let text = registry.emitToString()
        XCTAssertEqual(MetricsPage.value(text, "zone_agent_digest_age_seconds_bucket{le=\"0.01\"}"), 1, text)
        XCTAssertEqual(MetricsPage.value(text, "zone_agent_digest_age_seconds_bucket{le=\"0.05\"}"), 2, text)
        XCTAssertEqual(MetricsPage.value(text, "zone_agent_digests_accepted_total"), 2, text)
    }

    func testDigestsTheCoreSaysGossipMissedAreCounted() {
        let registry = PrometheusCollectorRegistry()
        let mesh = MeshMetrics(registry: registry)
        let origin = MemberIdentity(name: "c1-a", cluster: "c1", generation: 1)
        let digest = HealthDigest(origin: origin, incarnation: 1, version: 1, issuedAtMillis: 10_000, endpoints: [])
        mesh.digestAccepted(digest, missedByGossip: false, receivedAtMillis: 10_040)
        mesh.digestAccepted(digest, missedByGossip: true, receivedAtMillis: 30_000)
        let text = registry.emitToString()
        XCTAssertEqual(MetricsPage.value(text, "zone_agent_digests_by_state_sync_total"), 1, text)
        XCTAssertEqual(MetricsPage.value(text, "zone_agent_digests_accepted_total"), 2, text)
    }

    func testFailureDetectionIsTimedFromTheFirstSuspicionToDead() {
        let registry = PrometheusCollectorRegistry()
        let mesh = MeshMetrics(registry: registry)
        let t0 = ContinuousClock.now
        func member(_ name: String, _ state: MemberState) -> MemberSnapshot {
            MemberSnapshot(identity: MemberIdentity(name: name, cluster: "c1", generation: 1), address: PeerAddress("127.0.0.1:1")!,
                           state: state, incarnation: 1)
        }
        mesh.memberChanged(member("a", .suspect), previous: .alive, now: t0)
        mesh.memberChanged(member("a", .suspect), previous: .suspect, now: t0 + .milliseconds(400))   // a second accuser
        mesh.memberChanged(member("a", .dead), previous: .suspect, now: t0 + .milliseconds(1_200))
        // b refutes: no figure; c is learned dead without a suspicion here: no figure either.
        mesh.memberChanged(member("b", .suspect), previous: .alive, now: t0)
        mesh.memberChanged(member("b", .alive), previous: .suspect, now: t0 + .milliseconds(300))
        mesh.memberChanged(member("b", .dead), previous: .alive, now: t0 + .seconds(9))
        mesh.memberChanged(member("c", .dead), previous: nil, now: t0 + .seconds(9))
        let text = registry.emitToString()
        XCTAssertEqual(MetricsPage.value(text, "zone_agent_failure_detection_seconds_count"), 1, text)
        XCTAssertEqual(MetricsPage.value(text, "zone_agent_failure_detection_seconds_bucket{le=\"1.0\"}"), 0, text)
        XCTAssertEqual(MetricsPage.value(text, "zone_agent_failure_detection_seconds_bucket{le=\"1.5\"}"), 1, text)
        XCTAssertEqual(MetricsPage.value(text, "zone_agent_suspicions_total"), 2, "a second accusation is not a second suspicion: \(text)")
        XCTAssertEqual(MetricsPage.value(text, #"zone_agent_member_transitions_total{to="dead"}"#), 3, text)
    }

    func testSuspicionClockStaysBounded() {
        var clock = SuspicionClock()
        let t0 = ContinuousClock.now
        for i in 0..<(SuspicionClock.limit + 10) {
            _ = clock.observe(.init(name: "m\(i)", generation: 1), state: .suspect, now: t0 + .milliseconds(i))
        }
        XCTAssertEqual(clock.since.count, SuspicionClock.limit)
        XCTAssertNil(clock.since[.init(name: "m0", generation: 1)], "the oldest suspicion goes first")
    }

    func testProcStatLinesParseEvenWithSpacesInTheCommandName() {
        let stat = "4242 (zone agent (x)) S 1 4242 4242 0 -1 4194560 2000 0 0 0 250 50 0 0 20 0 9 0 100000 734003200 5120 18446744073709551615"
            + " 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"
        let sample = ProcessSample(stat: stat, clockTicksPerSecond: 100, pageSize: 4096, bootTime: 1_700_000_000)
        XCTAssertEqual(sample?.cpuSeconds, 3.0)
        XCTAssertEqual(sample?.startTimeSeconds, 1_700_001_000)
        XCTAssertEqual(sample?.virtualBytes, 734_003_200)
        XCTAssertEqual(sample?.residentBytes, 5120 * 4096)
        XCTAssertNil(ProcessSample(stat: "garbage", clockTicksPerSecond: 100, pageSize: 4096, bootTime: 0))
        XCTAssertNil(ProcessSample(stat: "1 (x) S 1 2", clockTicksPerSecond: 100, pageSize: 4096, bootTime: 0))
    }

    func testProcessFiguresAreReadFromThisProcess() {
        let registry = PrometheusCollectorRegistry()
        _ = ProcessMetrics(registry: registry, version: "1")
        let text = registry.emitToString()
        func value(_ name: String) -> Double? {
            text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last!) }
        }
        XCTAssertGreaterThan(value("process_resident_memory_bytes") ?? 0, 1_000_000)
        XCTAssertGreaterThan(value("process_open_fds") ?? 0, 2)
        XCTAssertGreaterThan(value("process_start_time_seconds") ?? 0, 1_600_000_000)
        XCTAssertLessThanOrEqual(value("process_start_time_seconds") ?? .infinity, Date().timeIntervalSince1970 + 1)
    }
}

/// Prometheus's own checkers, from Debian's `prometheus` package (`make test` installs it).
enum PromtoolCheck {
    static var path: String? {
        ["/usr/bin/promtool", "/usr/local/bin/promtool"].first(where: FileManager.default.isExecutableFile(atPath:))
    }

    /// Runs `promtool arguments`, with `input` on stdin; returns its status and what it printed.
    static func run(_ arguments: [String], input: String? = nil, in directory: String? = nil) throws -> (status: Int32, output: String) {
        guard let path else { throw XCTSkip("promtool is not installed (make test installs Debian's prometheus)") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        let stdin = Pipe()
        p.standardInput = stdin
        try p.run()
        // Bounded: a promtool that hangs is stopped, which ends the read below.
        DispatchQueue.global().asyncAfter(deadline: .now() + 60) { if p.isRunning { p.terminate() } }
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, output)
    }

    /// `promtool check metrics` on a page: it must find nothing at all (no missing help, no bad name or unit).
    static func metrics(_ page: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let (status, output) = try run(["check", "metrics"], input: page)
        XCTAssertEqual(status, 0, "promtool check metrics: \(output)", file: file, line: line)
        XCTAssertEqual(output.trimmingCharacters(in: .whitespacesAndNewlines), "", "promtool check metrics: \(output)", file: file, line: line)
    }
}

/// Reads a rendered metrics page.
enum MetricsPage {
    /// The value of the series written exactly as `series` (name and labels), nil when it is absent.
    static func value(_ page: String, _ series: String) -> Double? {
        for line in page.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }
}
