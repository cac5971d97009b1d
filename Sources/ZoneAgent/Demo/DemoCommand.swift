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

        say("3. SIGKILL every agent and backend of c2 while requests stream through the gateway")
        let stop = StopFlag()
        let stream = mesh.stream { stop.isSet }
        try await Task.sleep(for: .seconds(1))
        let killedAt = ContinuousClock.now
        mesh.kill(mesh.agentNames("c2") + mesh.backendNames("c2"))
        let failover = try await mesh.waitFor("the table at 100/0", timeout: .seconds(30)) { await mesh.weights() == ["c1": 100, "c2": 0] }
        try await Task.sleep(for: .seconds(1))
        stop.set()
        let requests = await stream.value
        let failed = requests.filter { !$0.ok }
        let lastToC2 = requests.last { $0.cluster == "c2" && $0.at > killedAt }.map { $0.at - killedAt }
        say("  table at 100/0 \(Self.seconds(failover)) after the kill")
        say("  \(requests.count) requests streamed, \(failed.count) failed; last one served by c2 \(lastToC2.map(Self.seconds) ?? "before the kill")")
        check(failed.isEmpty, "no failed request (the proxy retries on the live cluster)")
        check(failover <= .seconds(profile == "wan" ? 15 : 5), "failover within \(profile == "wan" ? 15 : 5) s")
        say("")

        say("4. c2 comes back; failback waits for the \(holdDown) hold-down, then ramps over \(slowStart)")
        let restartedAt = ContinuousClock.now
        try mesh.startCluster("c2")
        var ramp: [String] = []
        var lastSeen: [String: Int] = [:]
        let failback = try await mesh.waitFor("the table back at 20/80", timeout: .seconds(90)) {
            let w = await mesh.weights()
            if w != lastSeen, let c1 = w["c1"], let c2 = w["c2"] {
                ramp.append("\(Self.seconds(ContinuousClock.now - restartedAt)): \(c1)/\(c2)")
                lastSeen = w
            }
            return w == ["c1": 20, "c2": 80]
        }
        say("  weights c1/c2 over time: " + ramp.joined(separator: ", "))
        try await mesh.waitFor("c2's endpoints healthy", timeout: .seconds(30)) { await mesh.isSteady() }
        let after = try await mesh.split(500)
        check(after == ["web-demo-c1": 100, "web-demo-c2": 400], "back at exactly 100/400, \(Self.seconds(failback)) after the restart")
        say("")

        say("figures: converged \(Self.seconds(converged)), failover \(Self.seconds(failover)), \(failed.count) failed of \(requests.count), failback \(Self.seconds(failback))")
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
