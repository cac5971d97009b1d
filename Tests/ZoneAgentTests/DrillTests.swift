import Foundation
import XCTest

@testable import ZoneAgent

/// `zone-agent drill` as an operator runs it: the real binary, its own local mesh at the `fast` profile, a real
/// request stream; each expectation asserted from the report it writes, and the HTML report opened in headless
/// Chromium.
final class DrillTests: XCTestCase {
    var binary = ""
    var out = ""

    override func setUpWithError() throws {
        binary = try BuiltBinary.path()
        out = NSTemporaryDirectory() + "drill-\(UUID().uuidString.prefix(8))"
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: out) }

    /// Runs a drill to its end (bounded: a drill that hangs is killed) and returns its exit status and report.
    func drill(_ arguments: [String], timeout: TimeInterval = 180) throws -> (status: Int32, report: [String: Any], output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["drill", "--profile", "fast", "--out", out] + arguments
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        let done = DispatchSemaphore(value: 0)
        p.terminationHandler = { _ in done.signal() }
        try p.run()
        let output = Output(pipe)
        if done.wait(timeout: .now() + timeout) == .timedOut {
            p.interrupt()
            _ = done.wait(timeout: .now() + 10)
            XCTFail("the drill did not finish within \(timeout) s:\n\(output.text)")
        }
        let data = FileManager.default.contents(atPath: out + "/report.json") ?? Data("{}".utf8)
        let report = (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
        return (p.terminationStatus, report, output.text)
    }

    func figures(_ report: [String: Any]) -> [String: Any] {
        let f = report["figures"] as? [String: Any] ?? [:]
        // What a failing run says about itself, in the test log.
        if report["verdict"] as? String != "held" {
            print("drill \(report["scenario"] ?? "?") did not hold: failures \(f["failures"] ?? []), checks \(report["checks"] ?? []), reasons \(report["reasons"] ?? [])")
        }
        return f
    }

    func testKillClusterMovesTrafficWithoutAFailedRequestAndDrawsIt() throws {
        let (status, report, output) = try drill(["--scenario", "kill-cluster"])
        XCTAssertEqual(status, 0, output)
        XCTAssertEqual(report["verdict"] as? String, "held")
        XCTAssertEqual(report["scenario"] as? String, "kill-cluster")
        let f = figures(report)
        XCTAssertEqual(f["failedRequests"] as? Int, 0)
        XCTAssertLessThanOrEqual(f["failoverTableSeconds"] as? Double ?? 99, 5)
        XCTAssertNotNil(f["failbackSeconds"] as? Double)
        XCTAssertGreaterThan(f["requests"] as? Int ?? 0, 200)
        XCTAssertGreaterThan((report["timeline"] as? [String: Any])?["buckets"].map { ($0 as? [Any])?.count ?? 0 } ?? 0, 50)
        XCTAssertTrue(output.contains("requests"), "live progress is printed")
        try screenshot(out + "/report.html")
    }

    func testScaleToZeroMovesWithinProbeIntervalTimesFallAndComesBack() throws {
        let (status, report, output) = try drill(["--scenario", "scale-to-zero"])
        XCTAssertEqual(status, 0, output)
        let f = figures(report)
        XCTAssertEqual(f["failedRequests"] as? Int, 0)
        // The local mesh probes every 500 ms with fall 2.
        XCTAssertLessThanOrEqual(f["failoverTableSeconds"] as? Double ?? 99, 1.2)
        XCTAssertNotNil(f["failbackSeconds"] as? Double)
    }

    func testKillingOneAgentMovesNothing() throws {
        let (status, report, output) = try drill(["--scenario", "kill-agent", "--duration", "4s"])
        XCTAssertEqual(status, 0, output)
        let f = figures(report)
        XCTAssertEqual(f["weightChanges"] as? Int, 0)
        XCTAssertEqual(f["failedRequests"] as? Int, 0)
    }

    func testADrainMovesTrafficAtOnceAndItComesBackWhenTheDrainRunsOut() throws {
        let (status, report, output) = try drill(["--scenario", "drain", "--duration", "3s"])
        XCTAssertEqual(status, 0, output)
        let f = figures(report)
        XCTAssertEqual(f["failedRequests"] as? Int, 0)
        // Signed, posted and applied by the gateway it was posted to: the next table sample has it.
        XCTAssertLessThanOrEqual(f["failoverTableSeconds"] as? Double ?? 99, 1.0, "\(f)")
        XCTAssertNotNil(f["failbackSeconds"] as? Double)
    }

    func testPartitionMovesTrafficAndHeals() throws {
        guard getuid() == 0, NetworkNamespace.find("iptables") != nil, NetworkNamespace.find("unshare") != nil else {
            throw XCTSkip("the partition drill needs root, unshare and iptables (make test installs iptables)")
        }
        let (status, report, output) = try drill(["--scenario", "partition", "--duration", "4s"])
        XCTAssertEqual(status, 0, output)
        let f = figures(report)
        XCTAssertEqual(f["failedRequests"] as? Int, 0)
        XCTAssertNotNil(f["failoverTableSeconds"] as? Double)
        XCTAssertNotNil(f["failbackSeconds"] as? Double, "the mesh heals by itself")
        XCTAssertEqual(f["flaps"] as? Int, 0)
    }

    // MARK: Traffic policy in a partition (the README's table, one row each)

    func requireNamespace() throws {
        guard getuid() == 0, NetworkNamespace.find("iptables") != nil, NetworkNamespace.find("unshare") != nil else {
            throw XCTSkip("the partition drills need root, unshare and iptables (make test installs iptables)")
        }
    }

    /// The policy drills run at the lan timing: at `fast`, a busy 2-core machine (six builds at once) falsely suspects
    /// whole clusters before any fault, and the drill would measure that instead of the policy.
    let lanTiming = ["--profile", "lan"]

    /// A policy the repository ships in deploy/drills/policies.
    func policy(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("deploy/drills/policies/\(name).yaml").path
    }

    func checks(_ report: [String: Any]) -> [(what: String, held: Bool)] {
        (report["checks"] as? [[String: Any]] ?? []).map { ($0["what"] as? String ?? "", $0["held"] as? Bool ?? false) }
    }

    func testPriorityGroupsKeepACutClustersShareInItsGroup() throws {
        try requireNamespace()
        let (status, report, output) = try drill(["--scenario", "partition", "--duration", "3s", "--weights", "c1=60,c2=20,c3=20",
                                                  "--cluster", "c1", "--failover", policy("priority")] + lanTiming)
        XCTAssertEqual(status, 0, output)
        XCTAssertEqual(figures(report)["failedRequests"] as? Int, 0)
        let share = try XCTUnwrap(checks(report).first { $0.what.hasPrefix("c1's share") }, "\(checks(report))")
        XCTAssertTrue(share.held && share.what.contains("went to c2 ") && share.what.contains("c3 20"), share.what)
    }

    func testAnIsolatedGatewayServesWhatWhenNoneHealthySays() throws {
        try requireNamespace()
        for (file, rule) in [(nil, "last-good"), ("fail-closed", "none"), ("fail-open", "all")] {
            let (status, report, output) = try drill(["--scenario", "isolate-gateway", "--duration", "3s"]
                                                     + (file.map { ["--failover", policy($0)] } ?? []) + lanTiming)
            XCTAssertEqual(status, 0, output)
            let all = checks(report)
            XCTAssertTrue(all.contains { $0.held && $0.what.hasPrefix("fell back on whenNoneHealthy: \(rule)") }, "\(all)")
            XCTAssertTrue(all.contains { $0.held && $0.what.hasPrefix("the configured weights back") }, "\(all)")
            let failed = figures(report)["failedRequests"] as? Int ?? -1
            if rule == "none" {
                XCTAssertGreaterThan(failed, 0, "fail closed answers 503 while cut off")
                XCTAssertTrue(all.contains { $0.held && $0.what.hasPrefix("no other failed request (0") }, "\(all)")
            } else {
                XCTAssertEqual(failed, 0, "fail static keeps serving")
            }
        }
    }

    /// The README's pinHeader row: pinned requests follow the table through a cut, never to another cluster.
    func testPinnedRequestsFollowTheTableThroughACut() throws {
        try requireNamespace()
        let (status, report, output) = try drill(["--scenario", "pin", "--duration", "3s"] + lanTiming)
        XCTAssertEqual(status, 0, output)
        let all = checks(report)
        for prefix in ["no unpinned request failed (0", "every request pinned to c1 (live) served by it", "pinned to c2 before the cut: served by it",
                       "pinned to c2 while the table lacked it", "pinned to c2: served again"] {
            XCTAssertTrue(all.contains { $0.held && $0.what.hasPrefix(prefix) }, "\(prefix): \(all)")
        }
    }

    /// The README's third column: c1 with the first gateway, c2 with the second, gossip and each gateway's requests
    /// cut between the sides for 3 s.
    func testASplitMeshServesEachSideThroughItsOwnGatewayAndHealsToOneTable() throws {
        try requireNamespace()
        guard NetworkNamespace.find("setpriv") != nil else { throw XCTSkip("the split-mesh drill runs its gateways through setpriv (util-linux)") }
        let (status, report, output) = try drill(["--scenario", "split-mesh", "--duration", "3s"] + lanTiming, timeout: 120)
        XCTAssertEqual(status, 0, output)
        let gateways = report["gateways"] as? [[String: Any]] ?? []
        XCTAssertEqual(gateways.map { $0["name"] as? String }, ["gateway", "gateway-b"], output)
        for g in gateways {
            let f = g["figures"] as? [String: Any] ?? [:]
            XCTAssertEqual(f["failedRequests"] as? Int, 0, "\(g["name"] ?? "?"): \(f)")
            XCTAssertNotNil(f["failoverTableSeconds"] as? Double, "\(g["name"] ?? "?") dropped the other side")
            XCTAssertNotNil(f["failbackSeconds"] as? Double, "\(g["name"] ?? "?") back after the heal")
            XCTAssertGreaterThan(f["requests"] as? Int ?? 0, 100)
        }
        let all = checks(report)
        XCTAssertTrue(all.contains { $0.held && $0.what.hasPrefix("gateway served its own side") && $0.what.contains("c1 100 / c2 0") }, "\(all)")
        XCTAssertTrue(all.contains { $0.held && $0.what.hasPrefix("gateway-b served its own side") && $0.what.contains("c1 0 / c2 100") }, "\(all)")
        XCTAssertTrue(all.contains { $0.held && $0.what.hasPrefix("both gateways at the configured weights with the same table") }, "\(all)")
        XCTAssertTrue(all.allSatisfy(\.held), "\(all)")
    }

    func testABadMeshFileExits78NamingTheKey() throws {
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let file = out + "/mesh.yaml"
        try "gateway: { admin: http://127.0.0.1:1, proxy: http://127.0.0.1:1/, host: h }\nclusters: { c2: { kill: x } }\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let (status, _, output) = try drill(["--scenario", "kill-cluster", "--mesh", file], timeout: 30)
        XCTAssertEqual(status, 78)
        XCTAssertTrue(output.contains("clusters.c2.start"), output)
        let (usage, _, _) = try drill(["--scenario", "meteor-strike"], timeout: 30)
        XCTAssertEqual(usage, 64)
    }

    func testMinHealthyAndSuspectVouchingStillMoveACutClusterWithoutAFailedRequest() throws {
        try requireNamespace()
        for name in ["min-healthy", "vouch-suspect"] {
            let (status, report, output) = try drill(["--scenario", "partition", "--duration", "3s", "--failover", policy(name)] + lanTiming)
            XCTAssertEqual(status, 0, "\(name): \(output)")
            let f = figures(report)
            XCTAssertEqual(f["failedRequests"] as? Int, 0, name)
            XCTAssertNotNil(f["failbackSeconds"] as? Double, "\(name): a returning cluster counts once it reaches the threshold")
            XCTAssertTrue((report["profile"] as? String ?? "").contains(name == "min-healthy" ? "minHealthy: { count: 2 }" : "alive-or-suspect"),
                          "the report names the policy")
        }
    }

    func testABadPolicyExits78NamingTheKeyBeforeAnyProcessStarts() throws {
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let file = out + "/policy.yaml"
        try "failover: { priority: [[c1], [c4]] }\n".write(toFile: file, atomically: true, encoding: .utf8)
        let (status, _, output) = try drill(["--scenario", "kill-cluster", "--failover", file], timeout: 30)
        XCTAssertEqual(status, 78, output)
        XCTAssertTrue(output.contains("failover.priority[1][0]"), output)
        let (usage, _, _) = try drill(["--scenario", "kill-cluster", "--weights", "c1=50,c2=60"], timeout: 30)
        XCTAssertEqual(usage, 64)
    }

    /// Opens the report in headless Chromium and keeps the screenshot beside it; the page must draw its chart.
    func screenshot(_ html: String) throws {
        guard let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first(where: FileManager.default.isExecutableFile(atPath:)) else {
            throw XCTSkip("headless Chromium is not installed (make test installs Debian's chromium)")
        }
        let png = html.replacingOccurrences(of: ".html", with: ".png")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: chromium)
        p.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1000,900",
                       "--screenshot=\(png)", "file://\(html)"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        let image = FileManager.default.contents(atPath: png) ?? Data()
        XCTAssertEqual(Array(image.prefix(4)), [0x89, 0x50, 0x4E, 0x47], "a PNG screenshot")
        XCTAssertGreaterThan(image.count, 20_000, "a page with a chart, not a blank one")
        let page = try String(contentsOfFile: html, encoding: .utf8)
        XCTAssertTrue(page.contains("<svg") && page.contains("<polyline"), "the chart is in the page")
        // Kept for a person to look at: `make test` prints where.
        let keep = NSTemporaryDirectory() + "zone-agent-drill-report.png"
        try? FileManager.default.removeItem(atPath: keep)
        try FileManager.default.copyItem(atPath: png, toPath: keep)
        print("drill report screenshot: \(keep)")
    }
}

/// Collects a pipe's output on a background thread, so a chatty child never blocks on a full pipe.
final class Output: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    init(_ pipe: Pipe) {
        pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let chunk = handle.availableData
            guard let self else { return }
            self.lock.withLock { self.data.append(chunk) }
        }
    }
    var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
}
