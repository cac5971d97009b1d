import PropertyBased
import SeededRandom
import Testing
@testable import WeightTable

/// Passive outlier detection's state machine: every time is injected, so these run in no time.
@Suite("Outlier detector")
struct OutlierDetectorTests {
    let t0 = ContinuousClock.now
    let a = OutlierEndpoint(cluster: "c1", host: "10.0.0.1", port: 80)
    let b = OutlierEndpoint(cluster: "c1", host: "10.0.0.2", port: 80)

    func detector(_ policy: OutlierPolicy = OutlierPolicy(maxEjectedPercent: 50, clusterErrorRate: nil),
                  population: [String: Int] = ["c1": 4, "c2": 4]) -> OutlierDetector {
        var detector = OutlierDetector(policy: policy)
        _ = detector.setPopulation(population, now: t0)
        return detector
    }

    func fail(_ d: inout OutlierDetector, _ e: OutlierEndpoint, _ times: Int, at: ContinuousClock.Instant) -> [OutlierDetector.Event] {
        (0..<times).flatMap { _ in d.record(e, failed: true, now: at) }
    }

    @Test func fiveConsecutiveErrorsEject() {
        var d = detector()
        #expect(fail(&d, a, 4, at: t0).isEmpty)
        #expect(d.view(now: t0).ejected.isEmpty)
        #expect(fail(&d, a, 1, at: t0) == [.ejected(a, count: 1, for: .seconds(30))])
        let reason = d.view(now: t0).ejected[a]
        #expect(reason == "endpoint 10.0.0.1:80 ejected by this gateway after 5 consecutive errors, for 30s (ejection 1)")
    }

    @Test func aSuccessResetsTheCount() {
        var d = detector()
        _ = fail(&d, a, 4, at: t0)
        _ = d.record(a, failed: false, now: t0)
        _ = fail(&d, a, 4, at: t0)
        #expect(d.view(now: t0).ejected.isEmpty)
        _ = fail(&d, a, 1, at: t0)
        #expect(d.view(now: t0).ejected[a] != nil)
    }

    @Test func ejectionEndsAndGrowsWithEachEjection() {
        var d = detector()
        _ = fail(&d, a, 5, at: t0)
        #expect(d.nextReleaseAt == t0 + .seconds(30))
        #expect(d.advance(to: t0 + .seconds(29)).isEmpty)
        #expect(d.advance(to: t0 + .seconds(30)) == [.released(a)])
        #expect(d.view(now: t0 + .seconds(30)).ejected.isEmpty)
        // Fails again at once: the second ejection lasts twice as long.
        #expect(fail(&d, a, 5, at: t0 + .seconds(31)) == [.ejected(a, count: 2, for: .seconds(60))])
        _ = d.advance(to: t0 + .seconds(91))
        #expect(fail(&d, a, 5, at: t0 + .seconds(92)) == [.ejected(a, count: 3, for: .seconds(90))])
    }

    @Test func ejectionTimeIsCappedAndTheCountDecays() {
        let policy = OutlierPolicy(baseEjection: .seconds(30), maxEjection: .seconds(60), maxEjectedPercent: 50, clusterErrorRate: nil)
        #expect(policy.ejectionTime(count: 1) == .seconds(30))
        #expect(policy.ejectionTime(count: 5) == .seconds(60))
        var d = detector(policy)
        _ = fail(&d, a, 5, at: t0)
        _ = d.advance(to: t0 + .seconds(30))
        // Ten base times later the count has decayed to zero: back to the base time.
        #expect(fail(&d, a, 5, at: t0 + .seconds(330)) == [.ejected(a, count: 1, for: .seconds(30))])
    }

    @Test func answersFromAnEjectedEndpointAreIgnored() {
        var d = detector()
        _ = fail(&d, a, 5, at: t0)
        #expect(fail(&d, a, 20, at: t0 + .seconds(1)).isEmpty)
        #expect(d.record(a, failed: false, now: t0 + .seconds(1)).isEmpty)
        #expect(d.nextReleaseAt == t0 + .seconds(30))
    }

    @Test func theShareCapHoldsAndTheNextEndpointGoesWhenThereIsRoom() {
        // 10% of 4 is 0, but at least one of a cluster of two or more may go.
        var d = detector(OutlierPolicy(clusterErrorRate: nil))
        _ = fail(&d, a, 5, at: t0)
        #expect(fail(&d, b, 5, at: t0).isEmpty, "a second ejection would exceed the cap")
        #expect(d.ejectedCount(cluster: "c1") == 1)
        _ = d.advance(to: t0 + .seconds(30))
        // b stayed at its threshold: its next error ejects it, now that there is room.
        #expect(fail(&d, b, 1, at: t0 + .seconds(30)) == [.ejected(b, count: 1, for: .seconds(30))])
    }

    @Test func maxEjectedNeverTakesTheLastEndpoint() {
        let policy = OutlierPolicy(maxEjectedPercent: 100)
        #expect(policy.maxEjected(of: 0) == 0)
        #expect(policy.maxEjected(of: 1) == 0)
        #expect(policy.maxEjected(of: 2) == 1)
        #expect(policy.maxEjected(of: 10) == 9)
        #expect(OutlierPolicy().maxEjected(of: 2) == 1)
        #expect(OutlierPolicy().maxEjected(of: 25) == 2)
        #expect(OutlierPolicy(maxEjectedPercent: 0).maxEjected(of: 25) == 0)
        var d = detector(policy, population: ["c1": 1])
        #expect(fail(&d, a, 10, at: t0).isEmpty, "the only endpoint of a cluster is never ejected")
    }

    @Test func aSmallerPopulationReleasesTheNewestEjections() {
        var d = detector(OutlierPolicy(maxEjectedPercent: 100, clusterErrorRate: nil))
        _ = fail(&d, a, 5, at: t0)
        _ = fail(&d, b, 5, at: t0 + .seconds(1))
        #expect(d.setPopulation(["c1": 2], now: t0 + .seconds(2)) == [.released(b)])
        #expect(Set(d.view(now: t0 + .seconds(2)).ejected.keys) == [a])
    }

    @Test func aClusterWhoseErrorRateCrossesTheThresholdIsDemoted() {
        let policy = OutlierPolicy(consecutiveErrors: 1000, clusterErrorRate: 50, window: .seconds(10), minRequests: 10)
        var d = detector(policy)
        // 4 of 9 failed: below the minimum count and below the rate.
        for i in 0..<9 { #expect(d.record(i % 2 == 0 ? a : b, failed: i < 4, now: t0).isEmpty) }
        // The 10th fails: 5 of 10 is 50%.
        #expect(d.record(a, failed: true, now: t0 + .seconds(1)) == [.demoted(cluster: "c1", errorRate: 50, count: 1, for: .seconds(30))])
        #expect(d.view(now: t0 + .seconds(1)).demoted["c1"] == OutlierView.Demotion(errorRate: 50, requests: 10, windowText: "10s"))
        #expect(d.advance(to: t0 + .seconds(31)) == [.restored(cluster: "c1")])
        #expect(d.view(now: t0 + .seconds(31)).isEmpty)
    }

    @Test func aBreakAfterALongHealthyRunIsJudgedOnTheNewestRequests() {
        let policy = OutlierPolicy(consecutiveErrors: 1000, clusterErrorRate: 50, window: .seconds(10), minRequests: 10)
        var d = detector(policy)
        for _ in 0..<500 { _ = d.record(a, failed: false, now: t0) }
        for _ in 0..<4 { #expect(d.record(a, failed: true, now: t0 + .seconds(1)).isEmpty) }
        // Five of the last ten failed.
        #expect(d.record(b, failed: true, now: t0 + .seconds(1)) == [.demoted(cluster: "c1", errorRate: 50, count: 1, for: .seconds(30))])
    }

    @Test func theErrorRateWindowStartsOver() {
        let policy = OutlierPolicy(consecutiveErrors: 1000, clusterErrorRate: 50, window: .seconds(10), minRequests: 10)
        var d = detector(policy)
        for _ in 0..<9 { _ = d.record(a, failed: true, now: t0) }
        // The window is over: the 10th error opens a new one, with one request in it.
        #expect(d.record(a, failed: true, now: t0 + .seconds(10)).isEmpty)
        #expect(d.view(now: t0 + .seconds(10)).demoted.isEmpty)
    }

    @Test func sameEventsGiveTheSameState() async {
        await propertyCheck(count: 100, input: Gen.uint64()) { seed in
            let first = Self.run(seed: seed, start: t0)
            let second = Self.run(seed: seed, start: t0)
            #expect(first.endpoints == second.endpoints && first.clusters == second.clusters)
            #expect(first.view(now: t0 + .seconds(1000)) == second.view(now: t0 + .seconds(1000)))
        }
    }

    /// The property the issue asks for: one gateway never ejects more than the configured share of a cluster.
    @Test func neverMoreThanTheConfiguredShareIsEjected() async {
        await propertyCheck(count: 300, input: Gen.uint64()) { seed in
            var rng = SplitMix64(seed: seed)
            let policy = OutlierPolicy(consecutiveErrors: Int.random(in: 1...5, using: &rng),
                                       baseEjection: .seconds(Int64.random(in: 1...30, using: &rng)),
                                       maxEjectedPercent: Int.random(in: 0...100, using: &rng), clusterErrorRate: nil)
            var d = OutlierDetector(policy: policy)
            var population = ["c1": Int.random(in: 0...12, using: &rng), "c2": Int.random(in: 0...12, using: &rng)]
            var now = t0
            _ = d.setPopulation(population, now: now)
            for _ in 0..<400 {
                now = now + .milliseconds(Int64.random(in: 0...500, using: &rng))
                if Int.random(in: 0..<50, using: &rng) == 0 {
                    population[["c1", "c2"].randomElement(using: &rng)!] = Int.random(in: 0...12, using: &rng)
                    _ = d.setPopulation(population, now: now)
                }
                let cluster = Bool.random(using: &rng) ? "c1" : "c2"
                let endpoint = OutlierEndpoint(cluster: cluster, host: "10.0.0.\(Int.random(in: 0..<12, using: &rng))", port: 80)
                _ = d.record(endpoint, failed: Int.random(in: 0..<10, using: &rng) < 8, now: now)
                for name in ["c1", "c2"] {
                    let ejected = d.view(now: now).ejected.keys.filter { $0.cluster == name }.count
                    #expect(ejected <= policy.maxEjected(of: population[name] ?? 0), "seed \(seed)")
                    #expect(ejected < max(1, population[name] ?? 0), "never every endpoint: seed \(seed)")
                }
            }
        }
    }

    static func run(seed: UInt64, start: ContinuousClock.Instant) -> OutlierDetector {
        var rng = SplitMix64(seed: seed)
        var d = OutlierDetector(policy: OutlierPolicy(consecutiveErrors: 3, maxEjectedPercent: 30, clusterErrorRate: 40, minRequests: 5))
        _ = d.setPopulation(["c1": 6, "c2": 3], now: start)
        var now = start
        for _ in 0..<300 {
            now = now + .milliseconds(Int64.random(in: 0...300, using: &rng))
            let endpoint = OutlierEndpoint(cluster: Bool.random(using: &rng) ? "c1" : "c2", host: "h\(Int.random(in: 0..<6, using: &rng))", port: 1)
            _ = d.record(endpoint, failed: Bool.random(using: &rng), now: now)
        }
        return d
    }
}
