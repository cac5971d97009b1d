import ArgumentParser
import Foundation

/// `zone-agent demo`: the seed's scenario on this machine, measured. Starts two clusters of three agents with two
/// backends each and a gateway on the seed's Ingress (20/80), shows the split, kills one cluster under a stream of
/// requests, shows the failover and the failback, prints the figures, and exits 0 only if all of it held.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a local two-cluster mesh, kill a cluster, and show the failover and failback with figures.")

    @Option(help: "Gossip timing profile: lan, fast or wan.")
    var profile = "lan"

    @Option(help: "Failback hold-down (the gateway's failover.holdDown); the demo shortens the 10 s default.")
    var holdDown = "3s"

    @Option(help: "Failback slow start (failover.slowStart).")
    var slowStart = "3s"

    @Option(help: "Keep the working directory (keys, configs, logs) here instead of a temporary one.")
    var dir: String?

    func validate() throws {
        guard ["lan", "fast", "wan"].contains(profile) else { throw ValidationError("--profile \(profile): use lan, fast or wan") }
        for (flag, value) in [("--hold-down", holdDown), ("--slow-start", slowStart)] where DurationText.parse(value) == nil {
            throw ValidationError("\(flag) \(value) is not a duration such as 500ms, 3s or 1m")
        }
    }

    func run() async throws {
        let directory = dir ?? NSTemporaryDirectory() + "zone-agent-demo-\(getpid())"
        var layout = LocalMesh.Layout()
        layout.profile = profile
        layout.holdDown = holdDown
        layout.slowStart = slowStart
        let mesh = try LocalMesh(directory: directory, binary: Self.selfPath(), layout: layout)
        // Children die with the demo, whatever way it ends.
        let stopSignals = Self.onStopSignal { mesh.stopAll() }
        defer {
            stopSignals.forEach { $0.cancel() }
            mesh.stopAll()
            if dir == nil { try? FileManager.default.removeItem(atPath: directory) }
        }
        var held = true
        func check(_ ok: Bool, _ what: String) {
            say("  \(ok ? "ok  " : "FAIL") \(what)")
            held = held && ok
        }

        say("zone-agent demo: two clusters in two zones, the seed's Ingress (c1 20 / c2 80), profile \(profile)")
        say("  working directory \(directory)\n")
        say("1. keys, trust roster, configs; 2 × 3 agents, 2 × 2 backends, 1 gateway with the built-in proxy")
        try mesh.writeConfiguration()
        for cluster in mesh.clusters { try mesh.startCluster(cluster) }
        try mesh.startGateway()
        let converged = try await mesh.waitFor("the gateway's table at 20/80", timeout: .seconds(60)) { await mesh.isSteady() }
        say("  mesh converged, table at 20/80 with every endpoint healthy, \(Self.seconds(converged)) after start\n")

        say("2. 500 requests through the gateway (Host: \(LocalMesh.host), /svc1)")
        let split = try await mesh.split(500)
        for (name, count) in split.sorted(by: { $0.key < $1.key }) { say("  \(name): \(count)") }
        check(split == ["web-demo-c1": 100, "web-demo-c2": 400], "exactly 100/400")
        say("")

        // The seed's Step 4, then the zone loss: both played by the drill runner under an open-loop request stream,
        // so the demo measures exactly what `zone-agent drill` reports.
        let target = LocalDrillTarget(mesh: mesh, inNetworkNamespace: false)
        var options = DrillRunner.Options()
        options.profile = profile
        options.rate = 50
        options.failbackBudget = .seconds(6)
        let runner = DrillRunner(target: target, cluster: "c2", configured: layout.clusters, options: options) { _ in }
        var reports: [DrillReport] = []
        for (step, scenario, what) in [(3, DrillScenario.scaleToZero, "the seed's drill: c2's application scaled to zero (its backends stop, its agents stay)"),
                                       (4, .killCluster, "the zone is lost: SIGKILL every agent and backend of c2")] {
            say("\(step). \(what), under 50 requests a second through the gateway")
            let report = try await runner.run(scenario)
            reports.append(report)
            let f = report.figures
            say("  table moved c2's share away \(DrillHTML.seconds(f.failoverTableSeconds)) after the fault; last request served by c2 \(DrillHTML.seconds(f.failoverTrafficSeconds)) after it")
            say("  \(scenario == .scaleToZero ? "backends back" : "c2 restarted"): 20/80 again \(DrillHTML.seconds(f.failbackSeconds)) later (hold-down \(holdDown), slow start \(slowStart))")
            say("  \(f.requests) requests, \(f.failedRequests) failed")
            for c in report.checks { check(c.held, c.what) }
            try await mesh.waitFor("c2's endpoints healthy", timeout: .seconds(30)) { await mesh.isSteady() }
            say("")
        }

        say("5. 500 requests again")
        let after = try await mesh.split(500)
        for (name, count) in after.sorted(by: { $0.key < $1.key }) { say("  \(name): \(count)") }
        check(after == ["web-demo-c1": 100, "web-demo-c2": 400], "back at exactly 100/400")
        say("")

        let reportDir = "drill-reports/demo-\(DrillCommand.timestamp())"
        try DrillReport.write(reports, to: reportDir)

        let (scale, kill) = (reports[0].figures, reports[1].figures)
        say("figures: converged \(Self.seconds(converged)); scale-to-zero moved in \(DrillHTML.seconds(scale.failoverTableSeconds)), zone loss in \(DrillHTML.seconds(kill.failoverTableSeconds)); \(scale.failedRequests + kill.failedRequests) failed of \(scale.requests + kill.requests); failback \(DrillHTML.seconds(scale.failbackSeconds)) and \(DrillHTML.seconds(kill.failbackSeconds))")
        say("report with a chart of the shares: \(reportDir)/report.html")
        say("the gateway's status page was at \(mesh.adminURL)/ ; `zone-agent table --admin \(mesh.adminURL)` prints the table")
        guard held else {
            say("\nthe demo did NOT hold; the last log lines:\n\(mesh.logs())")
            throw ExitCode(1)
        }
        say("\nall of it held.")
    }

    /// Writes a line at once, even into a pipe (`make demo | tee`): the demo narrates as it goes.
    func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// This executable's path, to start the mesh's processes from.
    static func selfPath() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    static func seconds(_ d: Duration) -> String {
        let ms = d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
        return String(format: "%.2f s", Double(ms) / 1000)
    }

    /// Runs `cleanup` and exits on SIGINT or SIGTERM, so no child outlives an interrupted demo.
    static func onStopSignal(_ cleanup: @escaping @Sendable () -> Void) -> [any DispatchSourceSignal] {
        [SIGINT, SIGTERM].map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                cleanup()
                Foundation.exit(130)
            }
            source.resume()
            return source
        }
    }
}
