import Foundation
import XCTest

@testable import ZoneAgent

/// The drill's arithmetic on hand-made records: what an operator reads in a report must be right by construction.
final class DrillFiguresTests: XCTestCase {
    typealias Request = DrillRecord.Request
    typealias Sample = DrillRecord.TableSample
    let configured = ["c1": 20, "c2": 80]

    func sample(_ at: Int, _ c1: Int, _ c2: Int) -> Sample { Sample(atMs: at, weights: ["c1": c1, "c2": c2], reasons: [:]) }

    /// A failover at 1 s and a failback at 3 s, sampled every 100 ms.
    func failoverRecord() -> DrillRecord {
        var r = DrillRecord()
        r.events = [.init(atMs: 1_000, kind: .fault, what: "kill"), .init(atMs: 3_000, kind: .recovery, what: "start")]
        for t in stride(from: 0, to: 5_000, by: 100) {
            let w = t < 1_300 ? (20, 80) : t < 3_800 ? (100, 0) : (20, 80)
            r.samples.append(sample(t, w.0, w.1))
        }
        for t in stride(from: 0, to: 5_000, by: 20) {
            let toC2 = (t / 20) % 5 != 0 && (t < 1_000 || t >= 3_800)
            r.requests.append(Request(sentMs: t, latencyMs: t == 980 ? 150 : 2, cluster: toC2 ? "c2" : "c1", outcome: "200"))
        }
        return r
    }

    func testFailoverFigures() {
        let f = DrillFigures(record: failoverRecord(), cluster: "c2", configured: configured, expectedFailovers: 1)
        XCTAssertEqual(f.failoverTableSeconds, 0.3)
        // The request sent at 0.98 s took 150 ms: the last served by c2 ended 0.13 s after the fault.
        XCTAssertEqual(f.failoverTrafficSeconds ?? 0, 0.13, accuracy: 1e-9)
        XCTAssertEqual(f.failbackSeconds, 0.8)
        XCTAssertEqual(f.requests, 250)
        XCTAssertEqual(f.failedRequests, 0)
        XCTAssertEqual(f.servedAfterDrop, 0)
        XCTAssertEqual(f.weightChanges, 2)
        XCTAssertEqual(f.failovers, 1)
        XCTAssertEqual(f.flaps, 0)
    }

    func testFailuresAndRequestsServedAfterTheDropAreCounted() {
        var r = failoverRecord()
        r.requests.append(Request(sentMs: 1_500, latencyMs: 5, cluster: "c2", outcome: "200"))
        r.requests.append(Request(sentMs: 1_600, latencyMs: 30_000, cluster: nil, outcome: "error: timeout"))
        r.requests.append(Request(sentMs: 1_700, latencyMs: 3, cluster: nil, outcome: "503"))
        let f = DrillFigures(record: r, cluster: "c2", configured: configured, expectedFailovers: 1)
        XCTAssertEqual(f.servedAfterDrop, 1)
        XCTAssertEqual(f.failedRequests, 2)
        XCTAssertEqual(f.failures, ["at 1.6 s: error: timeout", "at 1.7 s: 503"])
    }

    func testAClusterThatGoesAwayTwiceIsAFlap() {
        var r = failoverRecord()
        r.samples += [sample(5_000, 20, 80), sample(5_100, 0, 100), sample(5_200, 20, 80)]
        let f = DrillFigures(record: r, cluster: "c2", configured: configured, expectedFailovers: 1)
        XCTAssertEqual(f.failovers, 2)
        XCTAssertEqual(f.flaps, 1)
        XCTAssertEqual(f.weightChanges, 4)
    }

    func testAQuietScenarioExpectsNoFailover() {
        var r = DrillRecord()
        r.events = [.init(atMs: 500, kind: .fault, what: "kill one agent")]
        r.samples = (0..<20).map { sample($0 * 100, 20, 80) }
        let f = DrillFigures(record: r, cluster: "c2", configured: configured, expectedFailovers: 0)
        XCTAssertNil(f.failoverTableSeconds)
        XCTAssertEqual(f.weightChanges, 0)
        XCTAssertEqual(f.flaps, 0)
        XCTAssertNil(f.failbackSeconds)
    }

    func testTimelineBucketsRequestsAndCarriesTheTableForward() {
        let t = DrillTimeline(record: failoverRecord())
        XCTAssertEqual(t.buckets.count, 50)
        XCTAssertEqual(t.buckets[0].served, ["c1": 1, "c2": 4])
        XCTAssertEqual(t.buckets[0].weights, ["c1": 20, "c2": 80])
        XCTAssertEqual(t.buckets[20].served, ["c1": 5])
        XCTAssertEqual(t.buckets[20].weights, ["c1": 100, "c2": 0])
        XCTAssertEqual(t.buckets.map { $0.served.values.reduce(0, +) + $0.failed }.reduce(0, +), 250)
    }

    func testReportKeepsOnlyReasonChangesAndRendersSelfContainedHTML() throws {
        var r = failoverRecord()
        r.samples = [Sample(atMs: 0, weights: ["c1": 20, "c2": 80], reasons: ["c1": "ok", "c2": "ok"]),
                     Sample(atMs: 100, weights: ["c1": 20, "c2": 80], reasons: ["c1": "ok", "c2": "ok"]),
                     Sample(atMs: 200, weights: ["c1": 100, "c2": 0], reasons: ["c1": "takes the share of c2", "c2": "no live agent <vouches>"])]
        let f = DrillFigures(record: r, cluster: "c2", configured: configured, expectedFailovers: 1)
        let report = DrillReport(scenario: .killCluster, cluster: "c2", profile: "fast", startedAt: Date(timeIntervalSince1970: 0), rate: 50,
                                 configured: configured, record: r, figures: f, checks: [.init(what: "no failed request", held: true)])
        XCTAssertEqual(report.reasons.count, 4)
        XCTAssertEqual(report.verdict, "held")
        let json = try JSONSerialization.jsonObject(with: report.json()) as? [String: Any]
        for key in ["scenario", "expectation", "verdict", "figures", "timeline", "reasons", "events", "checks"] {
            XCTAssertNotNil(json?[key], key)
        }
        let html = DrillHTML.render([report])
        XCTAssertTrue(html.contains("<svg"))
        XCTAssertTrue(html.contains("no live agent &lt;vouches&gt;"), "reasons are escaped")
        XCTAssertFalse(html.contains("src=") || html.contains("href=") || html.contains("@import"), "nothing is fetched from the network")
    }
}

/// `drill --mesh FILE`: what a deployment's file must say, checked before anything is touched.
final class MeshFileTests: XCTestCase {
    let good = """
    gateway: { admin: "http://127.0.0.1:9101/", proxy: "http://127.0.0.1:8001/svc1", host: alb.ingress.alibaba.com }
    probe: { interval: 1s, fall: 3 }
    clusters:
      c2:
        kill: "true"
        start: "true"
        scaleToZero: "kubectl --context c2 -n gateway-demo scale deploy web-demo --replicas=0"
    """

    func testAGoodFileParses() throws {
        let f = try MeshFile.parse(good, file: "mesh.yaml")
        XCTAssertEqual(f.adminURL, "http://127.0.0.1:9101")
        XCTAssertEqual(f.host, "alb.ingress.alibaba.com")
        XCTAssertEqual(f.probeDetection, .seconds(3))
        XCTAssertEqual(f.clusters["c2"]?["kill"], "true")
        XCTAssertNoThrow(try f.check(.killCluster, cluster: "c2", file: "mesh.yaml"))
    }

    func testAMissingCommandNamesItsKey() throws {
        let f = try MeshFile.parse(good, file: "mesh.yaml")
        XCTAssertThrowsError(try f.check(.scaleToZero, cluster: "c2", file: "mesh.yaml")) {
            XCTAssertEqual(($0 as? ConfigError)?.key, "clusters.c2.scaleBack")
        }
        XCTAssertThrowsError(try f.check(.killCluster, cluster: "c3", file: "mesh.yaml")) {
            XCTAssertEqual(($0 as? ConfigError)?.key, "clusters.c3")
        }
        XCTAssertThrowsError(try f.check(.packetLoss, cluster: "c2", file: "mesh.yaml")) {
            XCTAssertEqual(($0 as? ConfigError)?.key, "loss.start")
        }
    }

    func testBadFilesAreRefusedWithTheKey() {
        let cases: [(String, String)] = [
            ("clusters: { c2: { kill: x } }", "gateway"),
            ("gateway: { admin: ftp://x, proxy: http://x/, host: h }\nclusters: { c2: {} }", "gateway.admin"),
            ("gateway: { admin: http://x, proxy: http://x/, host: h }\nclusters: { c2: { kil: x } }", "clusters.c2.kil"),
            ("gateway: { admin: http://x, proxy: http://x/, host: h }", "clusters"),
            ("gateway: { admin: http://x, proxy: http://x/, host: h }\nclusters: { c2: {} }\nprobe: { interval: soon }", "probe.interval"),
        ]
        for (text, key) in cases {
            XCTAssertThrowsError(try MeshFile.parse(text, file: "m.yaml"), text) {
                XCTAssertEqual(($0 as? ConfigError)?.key, key, "\(text): \($0)")
            }
        }
    }

    /// The examples the repository ships parse, and say everything `all` needs.
    func testShippedExamplesParse() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for name in ["deploy/drills/two-clusters.yaml", "deploy/drills/local-mesh.yaml"] {
            let f = try MeshFile.load(path: root.appendingPathComponent(name).path)
            for s in DrillScenario.allCases where !s.localOnly { XCTAssertNoThrow(try f.check(s, cluster: "c2", file: name), "\(name) \(s)") }
            XCTAssertThrowsError(try f.check(.isolateGateway, cluster: "c2", file: name), "the local mesh only")
        }
    }
}

/// The anchor's "table": HAProxy's view of its servers, read from its stats CSV.
final class HAProxyAnchorTests: XCTestCase {
    func testWeightsFromTheStatsCSV() {
        let csv = """
        # pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act
        fe,FRONTEND,,,0,1,4096,3,,,0,0,0,,,,,OPEN,,
        web-demo,c1-1,0,0,0,1,,1,,,,0,,0,0,0,0,UP,10,1
        web-demo,c1-2,0,0,0,1,,1,,,,0,,0,0,0,0,UP,10,1
        web-demo,c2-1,0,0,0,1,,1,,,,0,,0,0,0,0,DOWN,40,1
        web-demo,c2-2,0,0,0,1,,1,,,,0,,0,0,0,0,UP 1/3,40,1
        web-demo,BACKEND,0,0,0,1,,3,,,,0,,0,0,0,0,UP,60,3
        """
        XCTAssertEqual(HAProxyAnchor.weights(csv: csv), ["c1": 33, "c2": 67])
        XCTAssertNil(HAProxyAnchor.weights(csv: "not csv"))
    }

    func testCheckSettingsParse() {
        XCTAssertEqual(HAProxyAnchor("inter 2s fall 3 rise 2 redispatch")?.redispatch, true)
        XCTAssertEqual(HAProxyAnchor("inter 1s fall 3 rise 2")?.check, "inter 1s fall 3 rise 2")
        XCTAssertNil(HAProxyAnchor("inter"))
        XCTAssertNil(HAProxyAnchor("backup yes"))
    }
}
