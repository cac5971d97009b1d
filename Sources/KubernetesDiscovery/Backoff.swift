/// How long to wait before retrying after consecutive failures: capped exponential growth with jitter.
///
/// Jitter spreads the reconnections of many agents (one per node) so that an API server that comes
/// back after an outage is not hit by all of them in the same instant.
public struct Backoff: Sendable, Hashable {
    /// The delay after the first failure, before jitter.
    public var initial: Duration
    /// The cap on the delay, before jitter.
    public var maximum: Duration
    /// The factor the delay grows by with each further failure.
    public var multiplier: Double
    /// The share of each delay that is random, from 0 (none) to 1 (anywhere between zero and the delay).
    public var jitter: Double

    /// Creates a policy; the defaults go 0.5 s, 1 s, 2 s, … up to 30 s, each shortened by up to half at random.
    public init(
        initial: Duration = .milliseconds(500), maximum: Duration = .seconds(30), multiplier: Double = 2,
        jitter: Double = 0.5
    ) {
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
        self.jitter = jitter
    }

    /// The delay after `failures` consecutive failures (1 for the first), given a random source.
    ///
    /// Formula: `d = min(maximum, initial × multiplier^(failures−1))`, then a uniform draw from
    /// `[d × (1 − jitter), d]`. Zero or fewer failures give zero.
    public func delay(afterFailures failures: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        guard failures > 0 else { return .zero }
        let cap = Self.seconds(maximum)
        var base = Self.seconds(initial)
        // Growing step by step and stopping at the cap avoids overflowing pow() for long outages.
        var step = 1
        while step < failures, base < cap {
            base *= max(multiplier, 1)
            step += 1
        }
        base = min(base, cap)
        let spread = min(max(jitter, 0), 1)
        let low = base * (1 - spread)
        let chosen = low < base ? Double.random(in: low...base, using: &generator) : base
        return .nanoseconds(Int64((chosen * 1e9).rounded()))
    }

    static func seconds(_ duration: Duration) -> Double {
        let parts = duration.components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
