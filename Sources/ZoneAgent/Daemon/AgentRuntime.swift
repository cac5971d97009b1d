import GatewayHTTP
import Gossip
import GossipNIO
import Logging
import NIOPosix
import Wire

/// The cluster agent's own work: keep the endpoint list, probe this agent's share of it, and publish a newly
/// signed digest whenever what it reports changes (and now and then regardless, so issue times stay fresh).
actor AgentLoop {
    private let mesh: MeshRuntime
    private var prober: EndpointProber
    private var interval: Duration
    private var timeout: Duration
    /// The endpoints from the configuration and from discovery, kept apart so that each can change alone.
    private var configured: [ProbeTarget] = []
    private var discovered: [ProbeTarget] = []
    /// A digest is re-issued at least this often even when nothing changed, so the gateway's lease on it
    /// (`failover.digestLease`) only runs out when this agent's probing has stopped.
    private let refreshInterval: Duration = TimingBounds.digestRefresh
    /// When the last probe round completed (start-up before the first): `/healthz` fails when it is too long ago.
    private var lastRoundAt = ContinuousClock.now
    private var health: LocalHealth
    private var version: UInt64 = 0
    private var lastReport: [EndpointHealth]?
    private var lastPublished = ContinuousClock.now
    private var probing = false
    private var probeAgain = false
    private var publishing = false
    private var publishAgain = false
    private var logger: Logger

    init(mesh: MeshRuntime) {
        self.mesh = mesh
        let probe = mesh.config.probe
        prober = EndpointProber(check: probe.kind, timeout: probe.timeout, group: MultiThreadedEventLoopGroup.singleton)
        interval = probe.interval
        timeout = probe.timeout
        health = LocalHealth(member: mesh.identity.name, replicas: probe.probers, fall: probe.fall, rise: probe.rise,
                             handover: Self.handover(probe))
        logger = mesh.logger
    }

    /// How long a prober keeps an endpoint leaving its share: its new probers' `rise` probes and one interval of slack.
    private static func handover(_ probe: Config.ProbeConfig) -> Duration { probe.interval * (probe.rise + 1) + probe.timeout }

    /// Replaces the endpoints of the configuration's static list (at start, and on reload).
    func setConfigured(_ endpoints: [ProbeTarget]) async {
        configured = endpoints
        await endpointsChanged()
    }

    /// Replaces the endpoints discovery found (EndpointSlices).
    func setDiscovered(_ endpoints: [ProbeTarget]) async {
        discovered = endpoints
        await endpointsChanged()
    }

    /// Signs a fresh digest at once (after the signing key changed), so the mesh hears the new key within a round
    /// trip rather than at the next refresh.
    func republish() async {
        lastReport = nil
        await publishIfChanged()
    }

    /// Takes new probe settings from a reload: the next round probes with them.
    func reconfigure(probe: Config.ProbeConfig) async {
        prober = EndpointProber(check: probe.kind, timeout: probe.timeout, group: MultiThreadedEventLoopGroup.singleton)
        interval = probe.interval
        timeout = probe.timeout
        if health.retune(replicas: probe.probers, fall: probe.fall, rise: probe.rise, handover: Self.handover(probe), now: .now) {
            await probeAndPublish()
        }
    }

    /// Publishes at once what the new endpoint list already says (an endpoint gone from discovery, as when pods are
    /// scaled to zero, is gone from the digest without waiting for a probe), then probes the new ones.
    private func endpointsChanged() async {
        let endpoints = configured + discovered
        if health.setEndpoints(endpoints, now: .now) {
            logger.info("endpoints changed", metadata: ["count": "\(endpoints.count)"])
            await publishIfChanged()
            await probeAndPublish()
        }
    }

    /// Re-reads which agents of this cluster are live; probes a newly assigned share at once.
    func membershipChanged() async {
        let live = await mesh.gossip.members()
            .filter { $0.identity.cluster == mesh.identity.cluster && $0.state.isActive }
            .map(\.name)
        if health.setLiveMembers(live, now: .now) {
            logger.info("probe share changed", metadata: ["assigned": "\(health.assigned.count)", "live agents": "\(live.count + 1)"])
            await probeAndPublish()
        }
    }

    /// Probes every assigned endpoint once, concurrently, then publishes if anything changed. Rounds never overlap
    /// (a second round would count each result twice and trip `fall` early); a request made during a round runs
    /// one more round after it.
    func probeAndPublish() async {
        if probing {
            probeAgain = true
            return
        }
        probing = true
        defer { probing = false }
        repeat {
            probeAgain = false
            await probeRound()
        } while probeAgain
    }

    private func probeRound() async {
        _ = health.endHandovers(now: .now)
        let targets = health.assigned
        let prober = self.prober
        let results = await withTaskGroup(of: (ProbeTarget, Bool, Duration).self) { group in
            for key in targets {
                group.addTask {
                    let started = ContinuousClock.now
                    let ok = await prober.probe(host: key.host, port: Int(key.port))
                    return (key, ok, .now - started)
                }
            }
            var out: [(ProbeTarget, Bool, Duration)] = []
            for await result in group { out.append(result) }
            return out
        }
        for (key, ok, took) in results {
            ZoneMetrics.probes.probe(success: ok, took: took)
            if health.record(key, success: ok) {
                logger.info("endpoint health changed", metadata: ["endpoint": "\(key)", "healthy": "\(ok)"])
            }
        }
        await publishIfChanged()
        lastRoundAt = .now
    }

    /// Nil while the probe loop completes rounds in time; otherwise why `/healthz` must fail (`ProbeLoopWatch`).
    func probeLoopProblem() -> String? {
        ProbeLoopWatch.problem(lastRoundAt: lastRoundAt, now: .now, interval: interval, timeout: timeout)
    }

    /// Publishes one at a time (each suspends on the gossip actor, and two at once could sign an older report with
    /// the newer version); a request made during one runs one more after it.
    private func publishIfChanged() async {
        if publishing {
            publishAgain = true
            return
        }
        publishing = true
        defer { publishing = false }
        repeat {
            publishAgain = false
            await publishOnceIfChanged()
        } while publishAgain
    }

    private func publishOnceIfChanged() async {
        let report = health.report
        guard report != lastReport || ContinuousClock.now - lastPublished >= refreshInterval else { return }
        version += 1
        let incarnation = await mesh.gossip.incarnation()
        // Read again after the suspension: the endpoints may have changed meanwhile, and the newest must go out.
        let current = health.report
        let digest = HealthDigest(origin: mesh.identity, incarnation: incarnation, version: version,
                                  issuedAtMillis: wallClockMillis(), endpoints: current)
        await mesh.gossip.publish(digest: digest)
        lastReport = current
        lastPublished = .now
    }

    /// Probes every interval until cancelled.
    func runProbes() async throws {
        while !Task.isCancelled {
            await probeAndPublish()
            try await Task.sleep(for: interval)
        }
    }
}
