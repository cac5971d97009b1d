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
    private let prober: EndpointProber
    private let interval: Duration
    private let timeout: Duration
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
    private var logger: Logger

    init(mesh: MeshRuntime) {
        self.mesh = mesh
        let probe = mesh.config.probe
        prober = EndpointProber(check: probe.kind, timeout: probe.timeout, group: MultiThreadedEventLoopGroup.singleton)
        interval = probe.interval
        timeout = probe.timeout
        health = LocalHealth(member: mesh.identity.name, replicas: probe.probers, fall: probe.fall, rise: probe.rise,
                             handover: probe.interval * (probe.rise + 1) + probe.timeout)
        logger = mesh.logger
    }

    /// Replaces the endpoint list from discovery.
    func setEndpoints(_ endpoints: [EndpointKey]) async {
        if health.setEndpoints(endpoints, now: .now) {
            logger.info("endpoints changed", metadata: ["count": "\(endpoints.count)"])
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
        let results = await withTaskGroup(of: (EndpointKey, Bool, Duration).self) { group in
            for key in targets {
                group.addTask {
                    let started = ContinuousClock.now
                    let ok = await prober.probe(host: key.host, port: Int(key.port))
                    return (key, ok, .now - started)
                }
            }
            var out: [(EndpointKey, Bool, Duration)] = []
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

    private func publishIfChanged() async {
        let report = health.report
        guard report != lastReport || ContinuousClock.now - lastPublished >= refreshInterval else { return }
        version += 1
        let digest = HealthDigest(origin: mesh.identity, incarnation: await mesh.gossip.incarnation(), version: version,
                                  issuedAtMillis: wallClockMillis(), endpoints: report)
        await mesh.gossip.publish(digest: digest)
        lastReport = report
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

extension Config.StaticEndpoint {
    var key: EndpointKey { EndpointKey(service: service, host: address.host, port: UInt16(address.port)) }
}
