/// Passive outlier detection (`failover.outlierDetection`): how many failed requests take an endpoint out of this
/// gateway's picker, for how long, how much of a cluster may be out at once, and when a cluster's error rate
/// demotes it. The gateway's own view only: it is never gossiped, so other gateways decide for themselves.
public struct OutlierPolicy: Sendable, Hashable {
    /// Failed requests in a row (connection errors, resets, timeouts, 5xx answers) that eject an endpoint. Default 5,
    /// Envoy's `consecutive_5xx`: one or two errors are noise, five in a row at any real rate is a broken endpoint.
    public var consecutiveErrors: Int
    /// The first ejection lasts this long; the n-th lasts n × this (Envoy's `base_ejection_time`, default 30 s).
    public var baseEjection: Duration
    /// No ejection lasts longer than this, however often the endpoint failed. Default 300 s, Envoy's
    /// `max_ejection_time`: an endpoint that recovered comes back within five minutes.
    public var maxEjection: Duration
    /// The most of a cluster's endpoints ejected at once, in percent (``maxEjected(of:)``). Default 10, Envoy's
    /// `max_ejection_percent`.
    public var maxEjectedPercent: Int
    /// A cluster whose last `minRequests` requests, all within `window`, failed at this rate or above, in percent, is
    /// demoted: degraded, with no share while another cluster can serve; nil: never. Default 50: as many failures
    /// as successes.
    public var clusterErrorRate: Int?
    /// The most time the requests the cluster error rate is judged on may span. Default 10 s.
    public var window: Duration
    /// How many of a cluster's latest requests its error rate is judged on (kept per cluster). Default 20: one error is 5%.
    public var minRequests: Int

    /// The defaults above.
    public init(consecutiveErrors: Int = 5, baseEjection: Duration = .seconds(30), maxEjection: Duration = .seconds(300),
                maxEjectedPercent: Int = 10, clusterErrorRate: Int? = 50, window: Duration = .seconds(10), minRequests: Int = 20) {
        self.consecutiveErrors = max(1, consecutiveErrors)
        self.baseEjection = baseEjection
        self.maxEjection = max(baseEjection, maxEjection)
        self.maxEjectedPercent = min(max(0, maxEjectedPercent), 100)
        self.clusterErrorRate = clusterErrorRate.map { min(max(1, $0), 100) }
        self.window = window
        self.minRequests = min(max(1, minRequests), 10_000)
    }

    /// How many endpoints of a cluster of `population` may be ejected at once: `maxEjectedPercent` of them rounded
    /// down, but at least one of a cluster of two or more (as Envoy, so that small clusters can eject at all), and
    /// never the last one: an endpoint ejection alone never takes a cluster out of service. A cluster whose every
    /// endpoint fails is the cluster error rate's to demote.
    public func maxEjected(of population: Int) -> Int {
        guard population > 1, maxEjectedPercent > 0 else { return 0 }
        return min(population - 1, max(1, population * maxEjectedPercent / 100))
    }

    /// How long the `count`-th ejection (or demotion) lasts: `count` × `baseEjection`, at most `maxEjection`.
    public func ejectionTime(count: Int) -> Duration {
        min(baseEjection * max(1, count), maxEjection)
    }
}
