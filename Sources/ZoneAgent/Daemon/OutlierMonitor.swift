// The shell around the pure OutlierDetector: the proxy's hooks feed it from the event loops, the gateway's rebuild
// reads it, and each ejection or demotion asks for a rebuild so the table (and with it the picker) drops the endpoint.
import GatewayHTTP
import Logging
import Synchronization
import WeightTable

/// This gateway's passive outlier detection: a detector behind a lock, fed by the built-in proxy's exchange outcomes.
///
/// Only made when `failover.outlierDetection` is set; then every upstream answer takes the lock once (a few
/// dictionary operations), and an ejection or a demotion hops to the gateway loop to rebuild the table.
final class OutlierMonitor: Sendable {
    private let detector: Mutex<OutlierDetector>
    private let changed: @Sendable () -> Void
    private let metrics: OutlierMetrics?
    private let logger: Logger

    /// - Parameter changed: called (on the caller's thread) after an ejection, release, demotion or restoration.
    init(policy: OutlierPolicy, metrics: OutlierMetrics?, logger: Logger, changed: @escaping @Sendable () -> Void) {
        detector = Mutex(OutlierDetector(policy: policy))
        self.metrics = metrics
        self.logger = logger
        self.changed = changed
    }

    var policy: OutlierPolicy { detector.withLock { $0.policy } }

    /// The hooks, added to `hooks`, that feed the detector: failed tries (except those the table itself gave up),
    /// and each upstream response head, 5xx as an error.
    func feeding(_ hooks: ProxyHooks) -> ProxyHooks {
        var hooks = hooks
        let failure = hooks.onUpstreamFailure
        hooks.onUpstreamFailure = { upstream, reason in
            failure(upstream, reason)
            // A try given up because the table dropped its endpoint says nothing about the endpoint.
            if reason != .leftTable { self.record(upstream, failed: true) }
        }
        hooks.onUpstreamResponse = { upstream, status in self.record(upstream, failed: status >= 500) }
        return hooks
    }

    func record(_ upstream: Upstream, failed: Bool, now: ContinuousClock.Instant = .now) {
        let endpoint = OutlierEndpoint(cluster: upstream.cluster, host: upstream.host, port: upstream.port)
        let events = detector.withLock { $0.record(endpoint, failed: failed, now: now) }
        if !events.isEmpty { report(events) }
    }

    /// What the table applies now (releasing what is due first).
    func view(now: ContinuousClock.Instant = .now) -> OutlierView {
        let (events, view) = detector.withLock { detector in
            let events = detector.advance(to: now)
            return (events, detector.view(now: now))
        }
        if !events.isEmpty { report(events, rebuild: false) }
        return view
    }

    /// When the next ejection or demotion runs out, for the table timer.
    var nextReleaseAt: ContinuousClock.Instant? { detector.withLock { $0.nextReleaseAt } }

    /// Takes each cluster's endpoint count from a published table: the cap on ejections is a share of it.
    func tablePublished(_ table: RoutingTable, now: ContinuousClock.Instant = .now) {
        let population = Self.population(table)
        let events = detector.withLock { $0.setPopulation(population, now: now) }
        if !events.isEmpty { report(events) }
    }

    /// Per cluster, its endpoints over every service its routes name (each service once).
    static func population(_ table: RoutingTable) -> [String: Int] {
        var perService: [String: [String: Int]] = [:]
        for route in table.routes {
            for cluster in route.clusters {
                perService[cluster.cluster, default: [:]][route.spec.service] = max(
                    perService[cluster.cluster]?[route.spec.service] ?? 0, cluster.totalEndpoints)
            }
        }
        return perService.mapValues { $0.values.reduce(0, +) }
    }

    private func report(_ events: [OutlierDetector.Event], rebuild: Bool = true) {
        for event in events {
            switch event {
            case .ejected(let endpoint, let count, let time):
                metrics?.ejection(cluster: endpoint.cluster)
                logger.warning("endpoint ejected by this gateway's outlier detection", metadata: [
                    "cluster": "\(endpoint.cluster)", "endpoint": "\(endpoint.address)", "ejection": "\(count)", "for": "\(time)",
                ])
            case .released(let endpoint):
                logger.notice("ejected endpoint back in this gateway's picker", metadata: [
                    "cluster": "\(endpoint.cluster)", "endpoint": "\(endpoint.address)",
                ])
            case .demoted(let cluster, let rate, let count, let time):
                logger.warning("cluster demoted by this gateway's outlier detection", metadata: [
                    "cluster": "\(cluster)", "errorRate": "\(rate)%", "demotion": "\(count)", "for": "\(time)",
                ])
            case .restored(let cluster):
                logger.notice("cluster demotion over", metadata: ["cluster": "\(cluster)"])
            }
        }
        if let metrics {
            let (counts, demoted) = detector.withLock { detector in
                let view = detector.view(now: .now)
                return (Dictionary(view.ejected.keys.map { ($0.cluster, 1) }, uniquingKeysWith: +), Set(view.demoted.keys))
            }
            metrics.current(ejected: counts, demoted: demoted)
        }
        if rebuild { changed() }
    }
}
