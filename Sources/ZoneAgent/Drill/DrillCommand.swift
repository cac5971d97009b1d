import ArgumentParser
import Foundation
import WeightTable

/// `zone-agent drill`: plays a fault on a mesh under a steady request stream, measures how the traffic moved and
/// what was lost, writes `report.json` and `report.html`, and exits 0 only when every expectation held.
struct DrillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drill",
        abstract: "Run a chaos drill on a local mesh or on a deployment, and report how traffic moved.",
        discussion: """
        Scenarios: \((DrillScenario.allCases.map(\.rawValue) + ["all"]).joined(separator: ", ")). Without --mesh the \
        drill builds its own mesh of real processes on loopback (two clusters of three agents, two backends each, a \
        gateway on the seed's Ingress at 20/80) and tears it down; partition, packet-loss, isolate-gateway, pin and \
        split-mesh run it in a network namespace of their own (root); partition, pin and split-mesh run each gateway \
        under a uid of its own (setpriv), so that its requests can be cut while the agents still probe their own \
        backends. split-mesh adds a second gateway and cuts the mesh in two: --cluster (c2) with the second gateway, \
        the other clusters with the first. --weights and --failover shape that mesh's clusters and its \
        gateway's traffic policy, and the expectations follow the policy. With --mesh FILE it drives a deployment through the shell commands the file \
        gives (deploy/drills/ has one for the layout of deploy/agents and one for a mesh started by hand).
        """)

    @Option(help: "The scenario, or all.")
    var scenario: String

    @Option(help: "A mesh file describing an existing deployment (URLs and shell commands).")
    var mesh: String?

    @Option(help: "Where report.json and report.html go (default ./drill-reports/SCENARIO-TIMESTAMP).")
    var out: String?

    @Option(help: "Gossip timing profile of the local mesh: lan or fast.")
    var profile = "lan"

    @Option(help: "Requests per second through the gateway.")
    var rate = 50

    @Option(help: "Run each scenario this many times.")
    var `repeat` = 1

    @Option(help: "How long a pause, cut, packet loss or quiet period lasts (scenario default: 20s, 20s, 2m, 10s).")
    var duration: String?

    @Option(help: "The cluster to act on (default: c2 on the local mesh, the only one in a mesh file).")
    var cluster: String?

    @Option(help: "Packet loss for packet-loss, in percent.")
    var loss = 10

    @Option(help: "A YAML file with a `failover:` mapping (priority, minHealthy, whenNoneHealthy, vouching, holdDown, slowStart) merged into the local mesh's gateway; the expectations follow it.")
    var failover: String?

    @Option(help: "The local mesh's clusters and configured weights, such as c1=60,c2=20,c3=20 (default c1=20,c2=80).")
    var weights: String?

    @Option(help: "Keep the local mesh's working directory (keys, configs, logs) here.")
    var dir: String?

    /// `make bench-failover`: HAProxy with these check settings in the gateway's place, on the same mesh.
    @Option(help: .hidden)
    var anchorHaproxy: String?

    func validate() throws {
        guard scenario == "all" || DrillScenario(rawValue: scenario) != nil else {
            throw ValidationError("--scenario \(scenario): use one of \((DrillScenario.allCases.map(\.rawValue) + ["all"]).joined(separator: ", "))")
        }
        guard ["lan", "fast"].contains(profile) else { throw ValidationError("--profile \(profile): use lan or fast") }
        guard (1...2_000).contains(rate) else { throw ValidationError("--rate \(rate): from 1 to 2000 requests a second") }
        guard (1...100).contains(`repeat`) else { throw ValidationError("--repeat \(`repeat`): from 1 to 100") }
        guard (1...90).contains(loss) else { throw ValidationError("--loss \(loss): from 1 to 90 percent") }
        if let anchorHaproxy, HAProxyAnchor(anchorHaproxy) == nil || mesh != nil {
            throw ValidationError("--anchor-haproxy \(anchorHaproxy): check settings such as \"inter 2s fall 3 rise 2 redispatch\", on the local mesh only")
        }
        if mesh != nil, failover != nil || weights != nil {
            throw ValidationError("--failover and --weights shape the local mesh: without --mesh only")
        }
        if let weights, Self.parseWeights(weights) == nil {
            throw ValidationError("--weights \(weights): two to eight clusters c1…c8 as NAME=WEIGHT, the weights summing to 100, such as c1=60,c2=20,c3=20")
        }
        if let duration, DurationText.parse(duration).map({ $0 >= .seconds(1) && $0 <= .seconds(3600) }) != true {
            throw ValidationError("--duration \(duration): a duration from 1s to 1h, such as 20s or 2m")
        }
    }

    var scenarios: [DrillScenario] {
        // A mesh file has no command for what only the local mesh can play.
        let once = scenario == "all" ? DrillScenario.all.filter { mesh == nil || !$0.localOnly } : [DrillScenario(rawValue: scenario)!]
        return (0..<`repeat`).flatMap { _ in once }
    }

    /// The local mesh's configured weights.
    var localWeights: [String: Int] { weights.flatMap(Self.parseWeights) ?? LocalMesh.Layout().clusters }

    /// `c1=60,c2=20,c3=20`: clusters c1…c8 of the local mesh (its addresses and keys are made per name), summing to 100.
    static func parseWeights(_ text: String) -> [String: Int]? {
        var out: [String: Int] = [:]
        for part in text.split(separator: ",") {
            let pair = part.split(separator: "=", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, let weight = Int(pair[1]), (0...100).contains(weight),
                  (1...8).map({ "c\($0)" }).contains(pair[0]), out[pair[0]] == nil else { return nil }
            out[pair[0]] = weight
        }
        return out.count >= 2 && out.values.reduce(0, +) == 100 ? out : nil
    }

    func run() async throws {
        var policy = DrillPolicy()
        let file: MeshFile?
        let target: String
        if let mesh {
            do {
                let loaded = try MeshFile.load(path: mesh)
                guard let chosen = cluster ?? (loaded.clusters.count == 1 ? loaded.clusters.keys.first : nil) else {
                    throw ConfigError(file: mesh, key: "clusters", problem: "names several clusters: choose one with --cluster")
                }
                for s in Set(scenarios) { try loaded.check(s, cluster: chosen, file: mesh) }
                (file, target) = (loaded, chosen)
            } catch let error as ConfigError {
                FileHandle.standardError.write(Data("zone-agent drill: \(error)\n".utf8))
                throw ExitCode(ExitStatus.configuration)
            }
        } else {
            target = cluster ?? "c2"
            let names = localWeights.keys.sorted()
            guard names.contains(target) else { throw ValidationError("--cluster \(target): the local mesh has \(names.joined(separator: ", "))") }
            do {
                policy = try failover.map { try DrillPolicy.load(path: $0, clusters: Set(names)) } ?? DrillPolicy()
            } catch {
                FileHandle.standardError.write(Data("zone-agent drill: \(error)\n".utf8))
                throw ExitCode(ExitStatus.configuration)
            }
            if scenarios.contains(where: \.needsNetworkNamespace) && !NetworkNamespace.isInside {
                let error = NetworkNamespace.reexec(arguments: Array(CommandLine.arguments.dropFirst()))
                FileHandle.standardError.write(Data("zone-agent drill: \(error)\n".utf8))
                throw ExitCode(1)
            }
            file = nil
        }

        let stamp = Self.timestamp()
        let outDir = out ?? "drill-reports/\(scenario)-\(stamp)"
        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        let current = CurrentTarget()
        let stopSignals = DemoCommand.onStopSignal { current.tearDown() }
        defer { stopSignals.forEach { $0.cancel() } }

        var reports: [DrillReport] = []
        for (n, s) in scenarios.enumerated() {
            say("\n== drill \(n + 1) of \(scenarios.count): \(s.rawValue) on \(target)\n   expect: \(s.expectation)")
            let report: DrillReport
            do {
                report = try await runOne(s, file: file, cluster: target, policy: policy, current: current, index: n)
            } catch {
                current.tearDown()
                say("  the drill could not run: \(error)")
                throw ExitCode(1)
            }
            reports.append(report)
            printSummary(report)
        }
        try DrillReport.write(reports, to: outDir)
        say("\nreport: \(outDir)/report.json and \(outDir)/report.html")
        if reports.count > 1 { printTable(reports) }
        guard reports.allSatisfy(\.held) else {
            say("some expectation did NOT hold")
            throw ExitCode(1)
        }
        say("every expectation held")
    }

    private func runOne(_ s: DrillScenario, file: MeshFile?, cluster: String, policy: DrillPolicy, current: CurrentTarget,
                        index: Int) async throws -> DrillReport {
        var options = DrillRunner.Options()
        options.profile = profile
        options.rate = rate
        options.duration = duration.flatMap(DurationText.parse)
        options.lossPercent = loss
        let target: any DrillTarget
        let configured: [String: Int]
        if let file {
            target = ShellDrillTarget(file: file)
            configured = try await Self.configuredWeights(target)
            options.profile = "deployment"
        } else {
            var layout = LocalMesh.Layout()
            layout.profile = profile
            layout.clusters = localWeights
            let holdDown = policy.holdDown ?? .seconds(3), slowStart = policy.slowStart ?? .seconds(3)
            layout.holdDown = DurationText.format(holdDown)
            layout.slowStart = DurationText.format(slowStart)
            // The scenario's own settings (outlier detection for `outlier`) after the operator's policy.
            layout.failoverExtra = [policy.gatewayEntries, s.localFailoverExtra].filter { !$0.isEmpty }.joined(separator: ", ")
            layout.proxyExtra = s.localProxyExtra
            layout.secondGateway = s == .splitMesh
            layout.gatewaysUnderOwnUIDs = s.cutsRequests && NetworkNamespace.isInside
            options.policy = policy
            let directory = dir.map { "\($0)/\(index)-\(s.rawValue)" } ?? NSTemporaryDirectory() + "zone-agent-drill-\(getpid())-\(index)"
            let mesh = try LocalMesh(directory: directory, binary: DemoCommand.selfPath(), layout: layout)
            let anchor = anchorHaproxy.flatMap(HAProxyAnchor.init)
            target = LocalDrillTarget(mesh: mesh, inNetworkNamespace: NetworkNamespace.isInside, anchor: anchor)
            configured = layout.clusters
            options.failbackBudget = anchor == nil ? holdDown + slowStart : .seconds(20)
            if let anchor { options.profile = anchor.label }
            if failover != nil { options.profile += ", " + policy.label }
            say("  starting a local mesh (\(directory))")
        }
        current.set(target)
        var keep = dir != nil
        defer {
            current.tearDown()
            if !keep, let local = target as? LocalDrillTarget { try? FileManager.default.removeItem(atPath: local.mesh.dir) }
        }
        try await target.prepare()
        let runner = DrillRunner(target: target, cluster: cluster, configured: configured, options: options) { say($0) }
        let report = try await runner.run(s)
        if !report.held, let local = target as? LocalDrillTarget {
            // A failure seen once must say whose judgement was late; the whole logs stay for a closer look.
            keep = true
            let started = ISO8601DateFormatter().date(from: report.startedAt) ?? Date()
            func at(_ kind: DrillRecord.Event.Kind) -> Date? {
                report.events.first { $0.kind == kind }.map { started.addingTimeInterval(Double($0.atMs) / 1000) }
            }
            let fault = at(.fault) ?? started
            say("  what the mesh decided from the fault (\(report.startedAt) + \(DrillHTML.seconds(fault.timeIntervalSince(started)))) "
                + "to the recovery, from its logs in \(local.mesh.dir):\n"
                + local.mesh.decisions(of: cluster, from: fault, until: at(.recovery) ?? Date()))
        }
        return report
    }

    /// The configured weights of the deployment's first route, from its gateway.
    static func configuredWeights(_ target: any DrillTarget) async throws -> [String: Int] {
        let observer = DrillObserver(target: target, rate: 1)
        let data = await observer.fetch("/v1/table")
        _ = await observer.stop()
        guard let data, let table = try? TableJSON.decode(Array(data)), let route = table.routes.first else {
            throw DrillError("cannot read the gateway's table at \(target.adminURL)/v1/table")
        }
        return Dictionary(uniqueKeysWithValues: route.clusters.map { ($0.cluster, $0.configuredWeight) })
    }

    private func printSummary(_ r: DrillReport) {
        let f = r.figures
        say("  \(r.verdict.uppercased()): \(f.requests) requests, \(f.failedRequests) failed; table moved \(DrillHTML.seconds(f.failoverTableSeconds)), last request to \(r.cluster) \(DrillHTML.seconds(f.failoverTrafficSeconds)), back \(DrillHTML.seconds(f.failbackSeconds)); \(f.weightChanges) weight changes, \(f.flaps) flaps")
        for g in r.gateways ?? [] {
            let f = g.figures
            say("    \(g.name) (\(g.side.joined(separator: ", "))): \(f.requests) requests, \(f.failedRequests) failed; dropped \(g.cluster) \(DrillHTML.seconds(f.failoverTableSeconds)), back \(DrillHTML.seconds(f.failbackSeconds))")
        }
        for check in r.checks { say("    \(check.held ? "ok  " : "FAIL") \(check.what)") }
    }

    private func printTable(_ reports: [DrillReport]) {
        say(String(format: "\n%-16@ %-7@ %9@ %9@ %9@ %8@ %6@", "scenario" as NSString, "verdict" as NSString, "moved" as NSString,
                   "traffic" as NSString, "back" as NSString, "failed" as NSString, "flaps" as NSString))
        for r in reports {
            let f = r.figures
            say(String(format: "%-16@ %-7@ %9@ %9@ %9@ %8d %6d", r.scenario as NSString, r.verdict as NSString,
                       DrillHTML.seconds(f.failoverTableSeconds) as NSString, DrillHTML.seconds(f.failoverTrafficSeconds) as NSString,
                       DrillHTML.seconds(f.failbackSeconds) as NSString, f.failedRequests, f.flaps))
        }
    }

    static func timestamp() -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyyMMdd-HHmmss"
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: Date())
    }

    func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
}

/// The target a drill is acting on, for the signal handler: an interrupted drill leaves no process behind.
final class CurrentTarget: @unchecked Sendable {
    private let lock = NSLock()
    private var target: (any DrillTarget)?
    func set(_ t: any DrillTarget) { lock.withLock { target = t } }
    func tearDown() {
        let t = lock.withLock { () -> (any DrillTarget)? in defer { target = nil }; return target }
        t?.tearDown()
    }
}
