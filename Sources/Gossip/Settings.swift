/// A named timing preset for the protocol, as `gossip.profile` selects it in the configuration file.
public enum GossipProfile: String, Sendable, CaseIterable {
    /// One data centre or region: the default.
    case lan
    /// Chaos drills on a quiet network: aims at detecting a dead cluster within 0.5 s.
    case fast
    /// Slow or lossy links between regions.
    case wan
}

/// The protocol's own settings: timing and fan-out of the core. Transport matters (ports, keys) live elsewhere.
///
/// Every duration that depends on the mesh size is a formula over the number of live members `N`, evaluated when
/// it is needed; the constants here are the factors of those formulas.
public struct GossipSettings: Sendable, Equatable {
    /// Time between two direct probes (SWIM's protocol period), before scaling by local health.
    public var probeInterval: Duration
    /// How long a direct probe waits for its ack before asking others to probe indirectly.
    public var probeTimeout: Duration
    /// How many members are asked to probe a silent member indirectly (SWIM's k).
    public var indirectChecks: Int
    /// The factor of the minimum suspicion time: `min = suspicionMult · max(1, log10 N) · probeInterval`.
    public var suspicionMult: Int
    /// The factor of the maximum suspicion time: `max = suspicionMaxMult · min`.
    public var suspicionMaxMult: Int
    /// Independent confirmations after which the suspicion timeout has shrunk to its minimum (Lifeguard's K).
    public var suspicionConfirmations: Int
    /// The factor of the retransmit limit: each update is sent `retransmitMult · ⌈log10(N+1)⌉` times.
    public var retransmitMult: Int
    /// Time between two rounds of pure gossip (updates pushed to `gossipFanout` random members when any are pending).
    public var gossipInterval: Duration
    /// How many random members each gossip round pushes pending updates to.
    public var gossipFanout: Int
    /// How many datagrams a gossip round may push to each of its members when more news waits than one holds, each
    /// update in one of them.
    ///
    /// memberlist sends one: a backlog then reaches each member a datagram's worth at a time, and its tail (the last
    /// members to hear of the last updates) takes many rounds. When a cluster of 1,250 dies in a mesh of 10,000,
    /// every survivor holds 1,250 accusations, some 45 to a datagram: one datagram a member a round sent each once in
    /// nine rounds, and the cluster was gone from a survivor's view after 3.9 s. With the burst each is sent about
    /// as often per round as a single update is, which is what the retransmit limit's reach assumes; the total sent
    /// does not change (each update still goes `retransmitMult · ⌈log10(N+1)⌉` times), only how soon.
    public var gossipBurst: Int
    /// Time between two state syncs with a random member, before scaling: `syncInterval · ⌈N / 32⌉`.
    public var syncInterval: Duration
    /// How often one dead member is probed again, so that a healed partition merges.
    public var deadProbeInterval: Duration
    /// How often a seed is synced with even when members are known, so that partitions longer than the tombstone
    /// time still merge.
    public var seedSyncInterval: Duration
    /// How long a dead or departed member is remembered, to reject stale rumours about it.
    public var tombstoneTime: Duration
    /// At most this many tombstones are kept; the oldest go first.
    public var maxTombstones: Int
    /// The highest local health score (Lifeguard): timeouts and intervals scale by `score + 1`.
    public var maxLocalHealth: Int
    /// Bytes of one datagram, all messages included.
    public var datagramBudget: Int
    /// The share of a datagram membership updates may take while digests wait, so digests are never starved.
    public var membershipShare: Double
    /// Pending updates kept at most per queue; beyond it the most retransmitted go first.
    public var maxQueuedUpdates: Int

    /// Settings for `profile`.
    public init(profile: GossipProfile = .lan) {
        switch profile {
        case .lan:
            // SWIM period as in the design: 500 ms, and half of it to wait for a direct ack (a LAN round trip is
            // far below 1 ms, so 250 ms tolerates a busy peer without slowing detection much).
            probeInterval = .milliseconds(500)
            probeTimeout = .milliseconds(250)          // = probeInterval / 2
            indirectChecks = 3                          // memberlist's default; 3 independent paths
            suspicionMult = 1                           // min = 1·max(1, log10 N)·500 ms: 0.5 s at N ≤ 10, 1.5 s at N = 1,000
            suspicionMaxMult = 3                        // max = 3·min: 1.5 s at N ≤ 10, 4.5 s at N = 1,000
            suspicionConfirmations = 3                  // Lifeguard's K: 3 independent accusers reach the minimum
            retransmitMult = 4                          // 4·⌈log10(N+1)⌉: 8 sends at N = 50, 16 at N = 1,000
            gossipInterval = .milliseconds(100)        // = probeInterval / 5
            gossipFanout = 3
            gossipBurst = 16                            // at most 3 · 16 · 1,400 B a round: 670 kB/s while a backlog lasts
            syncInterval = .seconds(30)                // · pushPullScale(N)
            deadProbeInterval = .seconds(2)            // = 4·probeInterval
            seedSyncInterval = .seconds(60)            // = 120·probeInterval
        case .fast:
            probeInterval = .milliseconds(100)
            probeTimeout = .milliseconds(50)           // = probeInterval / 2
            indirectChecks = 3
            suspicionMult = 1                           // min = 1·max(1, log10 N)·100 ms: 0.1 s at N ≤ 10
            suspicionMaxMult = 3                        // max = 3·min: 0.3 s at N ≤ 10
            suspicionConfirmations = 2
            retransmitMult = 6                          // 6·⌈log10(N+1)⌉: a drill kills many at once, and copies
                                                        // sent to the dead are wasted
            gossipInterval = .milliseconds(20)         // = probeInterval / 5
            gossipFanout = 3
            gossipBurst = 4                             // 5× the rounds of lan: at most 840 kB/s, 600 datagrams/s
            syncInterval = .seconds(10)
            deadProbeInterval = .milliseconds(400)     // = 4·probeInterval
            seedSyncInterval = .seconds(20)
        case .wan:
            probeInterval = .seconds(2)
            probeTimeout = .seconds(1)                 // = probeInterval / 2: room for 100+ ms round trips and jitter
            indirectChecks = 4
            suspicionMult = 2                           // min = 2·max(1, log10 N)·2 s: 4 s at N ≤ 10
            suspicionMaxMult = 4                        // max = 4·min
            suspicionConfirmations = 3
            retransmitMult = 5                          // lossier links: one more round
            gossipInterval = .milliseconds(400)        // = probeInterval / 5
            gossipFanout = 4
            gossipBurst = 16                            // at most 4 · 16 · 1,400 B a round: 220 kB/s
            syncInterval = .seconds(60)
            deadProbeInterval = .seconds(8)            // = 4·probeInterval
            seedSyncInterval = .seconds(120)
        }
        tombstoneTime = .seconds(24 * 3600)            // a day: far longer than any rumour lives
        maxTombstones = 10_000
        maxLocalHealth = 8                              // memberlist's AwarenessMaxMultiplier: at worst 9× slower
        datagramBudget = 1400                           // = WireEncoding.datagramBudget (MTU 1,500 minus headers and seal)
        membershipShare = 0.5
        maxQueuedUpdates = 4096
    }
}

/// The pure formulas of the protocol, kept apart so that each has a table test.
public enum GossipFormulas {
    /// `⌈log10(n+1)⌉`, at least 1: the "rounds to reach everyone" factor used by SWIM's formulas.
    public static func logScale(_ n: Int) -> Int {
        var rounds = 0
        var reach = 1
        let target = max(n, 0) + 1
        while reach < target {
            reach = reach.multipliedReportingOverflow(by: 10).overflow ? Int.max : reach * 10
            rounds += 1
        }
        return max(rounds, 1)
    }

    /// How many times one update is sent before it is dropped: `mult · ⌈log10(n+1)⌉`.
    public static func retransmitLimit(mult: Int, n: Int) -> Int {
        mult * logScale(n)
    }

    /// The shortest suspicion before a member is declared dead: `mult · max(1, log10 n) · probeInterval`, to the
    /// millisecond.
    ///
    /// As memberlist's, the logarithm is not rounded up: a rounded one jumps by a whole period at 10, 100, 1,000
    /// members, so that a mesh of 1,000 waited a third longer than one of 999 before declaring anyone dead.
    public static func suspicionMinimum(mult: Int, n: Int, probeInterval: Duration) -> Duration {
        let scale = max(1, naturalLog(Double(max(n, 1))) / naturalLog(10))
        let millis = Double(mult) * scale * seconds(probeInterval) * 1000
        return .milliseconds(Int64(millis.rounded()))
    }

    /// The time a suspicion still has to run (Lifeguard): it starts at `max` and shrinks logarithmically towards
    /// `min` as independent confirmations arrive, reaching `min` at `k` confirmations; negative when expired.
    public static func remainingSuspicionTime(confirmations: Int, k: Int, elapsed: Duration, min: Duration, max: Duration) -> Duration {
        let fraction: Double
        if k <= 0 {
            fraction = 1
        } else {
            fraction = Swift.min(1, naturalLog(Double(confirmations) + 1) / naturalLog(Double(k) + 1))
        }
        let spanSeconds = seconds(max) - seconds(min)
        var timeout = seconds(max) - fraction * spanSeconds
        timeout = Swift.max(timeout, seconds(min))
        // Round to whole milliseconds so that the outcome does not depend on floating-point noise.
        let timeoutMillis = Int64((timeout * 1000).rounded())
        return .milliseconds(timeoutMillis) - elapsed
    }

    /// How long the accusations of a member that came back (alive again after we held it suspect or dead) stay
    /// doubted: the longest suspicion plus two probe periods, `suspicionMaxMult · suspicionMinimum(N) + 2 · probeInterval`.
    ///
    /// Its stale accusations are what it began while cut off. A suspicion it raised then becomes a dead verdict
    /// at most one longest suspicion after it began, so at most that long after it is back; a probe it sent into
    /// the cut concludes within one probe period after it is back, and raises such a suspicion at once; and each
    /// accusation is then retransmitted `retransmitLimit` times, `gossipFanout` a gossip round, well within one
    /// more probe period. What it says after that comes from probes it made since it was back. Erring long costs
    /// little: a doubted accusation is checked by a direct probe of our own, which accuses in its turn if the
    /// accused does not answer.
    public static func staleViewWindow(settings: GossipSettings, n: Int) -> Duration {
        let minimum = suspicionMinimum(mult: settings.suspicionMult, n: n, probeInterval: settings.probeInterval)
        return minimum * settings.suspicionMaxMult + settings.probeInterval * 2
    }

    /// How much longer state sync waits in a large mesh, so that its cost per member stays flat: a sync carries a
    /// summary of all `N` members, so the interval grows with `N` too: 1 up to 32 members, then `⌈N / 32⌉`.
    /// (memberlist grows it with log2(N) only, which lets sync traffic grow almost linearly with the mesh; gossip
    /// is the primary channel here, and the mesh as a whole still runs about `N / interval` syncs, one per second
    /// at N = 1,000 with the lan profile.)
    public static func pushPullScale(n: Int) -> Int {
        let threshold = 32
        return max(1, (n + threshold - 1) / threshold)
    }

    /// The time after which every member has declared a silently killed member dead, at the latest, under no loss:
    /// one period until some member probes it (`probeInterval · (N−1)` in the worst case of the round robin, but
    /// `probeInterval` on average), the probe's own period, the longest suspicion, and `log(N)` gossip rounds to
    /// spread the verdict. Tests assert detection within this bound.
    public static func detectionBound(settings: GossipSettings, n: Int) -> Duration {
        let firstProbe = settings.probeInterval * max(1, n - 1)
        let probePeriod = settings.probeInterval
        let minimum = suspicionMinimum(mult: settings.suspicionMult, n: n, probeInterval: settings.probeInterval)
        let maximum = minimum * settings.suspicionMaxMult
        return firstProbe + probePeriod + maximum + spreadBound(settings: settings, n: n)
    }

    /// The time gossip takes to bring news to every member under no loss: `log(N)` rounds and a little more.
    public static func spreadBound(settings: GossipSettings, n: Int) -> Duration {
        settings.gossipInterval * (2 * logScale(n) + 2)
    }

    static func seconds(_ d: Duration) -> Double {
        let c = d.components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }
}

/// ln(x) for x > 0 by range reduction and the atanh series; accurate to about 1e-12, enough for timeouts in ms.
func naturalLog(_ x: Double) -> Double {
    guard x > 0 else { return -.infinity }
    var m = x
    var e = 0.0
    while m > 2 { m /= 2; e += 1 }
    while m < 1 { m *= 2; e -= 1 }
    let y = (m - 1) / (m + 1)
    let y2 = y * y
    var term = y
    var sum = 0.0
    var k = 1.0
    while true {
        let add = term / k
        sum += add
        if abs(add) < 1e-17 { break }
        term *= y2
        k += 2
    }
    return 2 * sum + e * 0.6931471805599453
}
