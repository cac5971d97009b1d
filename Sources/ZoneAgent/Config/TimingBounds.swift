import Yams

/// The range a timing setting of the configuration must fall in, and why.
///
/// A careless value is not a style problem: a probe interval of 1 ms costs a quarter of a core, a fall of 100 at
/// 10 s keeps sending traffic to a dead cluster for a quarter of an hour. Each bound is refused at start-up (exit
/// 78, naming the key) with the reason, so the operator learns the trade-off instead of meeting it in production.
struct DurationBounds: Sendable {
    var minimum: Duration
    /// Why nothing shorter makes sense.
    var below: String
    var maximum: Duration
    /// Why nothing longer makes sense.
    var above: String

    /// Nil when `value` is in range; otherwise the problem, with the bound and its reason.
    func problem(_ value: Duration) -> String? {
        if value < minimum {
            return "`\(DurationText.format(value))` is below the minimum of \(DurationText.format(minimum)): \(below)"
        }
        if value > maximum {
            return "`\(DurationText.format(value))` is above the maximum of \(DurationText.format(maximum)): \(above)"
        }
        return nil
    }
}

/// The bounds of every duration and count the configuration takes (`probe:`, `failover:`).
enum TimingBounds {
    /// How often an agent re-issues its digest when nothing changed (`AgentLoop`); a gateway's digest lease must
    /// outlast it with room to spare. 30 s: fresh issue times at 1/30 of a digest per agent per second of gossip.
    static let digestRefresh: Duration = .seconds(30)

    static let probeInterval = DurationBounds(
        minimum: .milliseconds(100),
        below: "each round opens a connection to every endpoint this agent probes; faster than the `fast` gossip profile's 100 ms period buys no quicker failover and costs a share of a core",
        maximum: .seconds(10),
        above: "failure detection takes interval × fall, and a digest is re-issued only after a probe round, so slower probes would let a gateway's digest lease (at least 60 s) expire on a working agent")

    static let probeTimeout = DurationBounds(
        minimum: .milliseconds(50),
        below: "a connect and an HTTP exchange need a few milliseconds, but a busy node's scheduler and GC pauses add tens: shorter timeouts fail healthy endpoints and move traffic for nothing",
        maximum: probeInterval.maximum,
        above: "it must not exceed probe.interval, whose maximum this is")

    /// `probe.fall` and `probe.rise`: how many rounds in a row change an endpoint's health.
    static let probeCount = 1...10
    static let probeCountReason = "detection takes count × probe.interval; more than 10 rounds delays failover by minutes at the longer intervals, and flap damping belongs to failover.holdDown"

    static let holdDown = DurationBounds(
        minimum: .seconds(1),
        below: "the hold-down is the flap damper: shorter than a few probe rounds, a flapping cluster takes traffic between its failures",
        maximum: .seconds(600),
        above: "a recovered cluster would sit idle so long that a second failure elsewhere finds the capacity it offers unused")

    static let slowStart = DurationBounds(
        minimum: .seconds(1),
        below: "the ramp moves in tenths of it: under 1 s it is a step, and cold caches and connection pools take the full load at once",
        maximum: .seconds(600),
        above: "a ramp longer than 10 minutes keeps a healthy cluster below its configured share for no benefit")

    static let digestLease = DurationBounds(
        minimum: digestRefresh * 2,
        below: "agents re-issue their digests every \(DurationText.format(digestRefresh)), at the first probe round after it (up to 2 × probe.interval later), and clocks drift; a lease under two refresh intervals expires working agents",
        maximum: .seconds(600),
        above: "a stalled agent keeps vouching with its last digest for the whole lease; beyond 10 minutes that lie outlasts any failover anyone waits for")

    /// The default lease: three refresh intervals, so one lost or late refresh never costs a working cluster its
    /// traffic, while a stalled agent stops vouching within 90 s.
    static let defaultDigestLease: Duration = digestRefresh * 3
}

extension YAMLReader {
    /// A duration within `bounds`; zero and negative values get the minimum's reason rather than a parse error.
    func duration(_ node: Node?, at path: String, bounds: DurationBounds) throws(ConfigError) -> Duration? {
        guard let text = try string(node, at: path) else { return nil }
        guard let d = DurationText.parse(text) else {
            throw fail(path, "`\(text)` is not a duration such as 500ms, 1s or 2m")
        }
        if let problem = bounds.problem(d) { throw fail(path, problem) }
        return d
    }

    /// A count of probe rounds within `TimingBounds.probeCount`.
    func probeCount(_ node: Node?, at path: String) throws(ConfigError) -> Int? {
        guard let text = try string(node, at: path) else { return nil }
        let range = TimingBounds.probeCount
        guard let v = Int(text), range.contains(v) else {
            throw fail(path, "`\(text)` is not a whole number from \(range.lowerBound) to \(range.upperBound): \(TimingBounds.probeCountReason)")
        }
        return v
    }
}
