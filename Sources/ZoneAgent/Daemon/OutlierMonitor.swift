// The shell around the pure OutlierDetector: the proxy's hooks feed it from the event loops, the gateway's rebuild
// reads it, and each ejection or demotion asks for a rebuild so the table (and with it the picker) drops the endpoint.
import GatewayHTTP
import Logging
import Synchronization
import WeightTable

/// This gateway's passive outlier detection: a detector behind a lock, fed by the built-in proxy's exchange outcomes.
///
/// Made with the proxy, whether or not `failover.outlierDetection` is set, so that a reload can turn it on, change it
/// or turn it off. While it is off every upstream answer costs one atomic load; while on, the lock once (a few
/// dictionary operations), and an ejection or a demotion hops to the gateway loop to rebuild the table.
final class OutlierMonitor: Sendable {
    private struct State {
        /// nil while outlier detection is off.
        var detector: OutlierDetector?
        /// The endpoints per cluster of the last published table, for a detector made by a reload.
        var population: [String: Int] = [:]
    }

    private let state: Mutex<State>
    /// Whether a policy is in force: read without the lock on every upstream answer.
    private let active: Atomic<Bool>
    private let changed: @Sendable () -> Void
    /// The outlier series, made when a policy is first in force (a gateway without one shows none).
    private let makeMetrics: @Sendable () -> OutlierMetrics?
    private let metrics = Mutex<OutlierMetrics?>(nil)
    private let logger: Logger

    /// - Parameters:
    ///   - policy: the policy in force from the start; nil: off until a reload sets one.
    ///   - changed: called (on the caller's thread) after an ejection, release, demotion or restoration, or a policy change.
    init(policy: OutlierPolicy?, metrics: @escaping @Sendable () -> OutlierMetrics?, logger: Logger,
         changed: @escaping @Sendable () -> Void) {
        state = Mutex(State(detector: policy.map(OutlierDetector.init(policy:))))
        active = Atomic(policy != nil)
        makeMetrics = metrics
        self.logger = logger
        self.changed = changed
        if policy != nil { _ = currentMetrics }
    }

    var policy: OutlierPolicy? { state.withLock { $0.detector?.policy } }

    /// Puts `policy` in force; nil turns detection off. A different policy starts afresh, as Envoy's outlier
    /// detector does when a cluster's settings change: what the old one ejected or demoted is back, its counts are
    /// gone, and the new one counts from here. The same policy again changes nothing.
    func replace(policy: OutlierPolicy?, now: ContinuousClock.Instant = .now) {
        let replaced = state.withLock { state -> Bool in
            guard state.detector?.policy != policy else { return false }
            state.detector = policy.map { policy in
                var detector = OutlierDetector(policy: policy)
                _ = detector.setPopulation(state.population, now: now)
                return detector
            }
            return true
        }
        guard replaced else { return }
        active.store(policy != nil, ordering: .releasing)
        logger.notice(policy == nil ? "outlier detection turned off" : "outlier detection policy in force, counting afresh",
                      metadata: policy.map { ["policy": "\($0)"] } ?? [:])
        // The gauges start again from nothing ejected: made now if detection is on, reset if it had been on before.
        let series = policy != nil ? currentMetrics : metrics.withLock { $0 }
        series?.current(ejected: [:], demoted: [])
        changed()
    }

    private var currentMetrics: OutlierMetrics? {
        metrics.withLock { made in
            if made == nil { made = makeMetrics() }
            return made
        }
    }

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
        guard active.load(ordering: .acquiring) else { return }
        let endpoint = OutlierEndpoint(cluster: upstream.cluster, host: upstream.host, port: upstream.port)
        let events = state.withLock { $0.detector?.record(endpoint, failed: failed, now: now) ?? [] }
        if !events.isEmpty { report(events) }
    }

    /// What the table applies now (releasing what is due first); nothing while detection is off.
    func view(now: ContinuousClock.Instant = .now) -> OutlierView {
        let (events, view) = state.withLock { state in
            (state.detector?.advance(to: now) ?? [], state.detector?.view(now: now) ?? OutlierView())
        }
        if !events.isEmpty { report(events, rebuild: false) }
        return view
    }

    /// When the next ejection or demotion runs out, for the table timer.
    var nextReleaseAt: ContinuousClock.Instant? { state.withLock { $0.detector?.nextReleaseAt } }

    /// Takes each cluster's endpoint count from a published table: the cap on ejections is a share of it.
    func tablePublished(_ table: RoutingTable, now: ContinuousClock.Instant = .now) {
        let population = Self.population(table)
        let events = state.withLock { state -> [OutlierDetector.Event] in
            state.population = population
            return state.detector?.setPopulation(population, now: now) ?? []
        }
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
                currentMetrics?.ejection(cluster: endpoint.cluster)
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
        if let metrics = currentMetrics {
            let (counts, demoted) = state.withLock { state in
                let view = state.detector?.view(now: .now) ?? OutlierView()
                return (Dictionary(view.ejected.keys.map { ($0.cluster, 1) }, uniquingKeysWith: +), Set(view.demoted.keys))
            }
            metrics.current(ejected: counts, demoted: demoted)
        }
        if rebuild { changed() }
    }
}
