import Testing
@testable import WeightTable

@Suite("Apportioning and policy formulas")
struct ApportionTests {
    @Test(arguments: [
        ([20, 80], [20, 80]),
        ([20, 0], [100, 0]),
        ([20, 30, 0], [40, 60, 0]),
        ([1, 1, 1], [34, 33, 33]),  // the tie goes to the first cluster by name
        ([0, 1, 1, 1], [0, 34, 33, 33]),
        ([50, 35], [59, 41]),
        ([0, 0], [0, 0]),
        ([3, 3, 1], [43, 43, 14]),
    ])
    func largestRemainder(shares: [Int], expected: [Int]) {
        #expect(Apportion.largestRemainder(shares, total: 100) == expected)
    }

    @Test func evenSplitGivesTheRemainderToTheFirst() {
        #expect(Apportion.even(1_000_000, over: 3) == [333_334, 333_333, 333_333])
        #expect(Apportion.even(10, over: 0) == [])
    }

    @Test(arguments: [
        (2, 2, 1.0), (1, 2, 0.7), (3, 4, 1.0), (1, 4, 0.35), (0, 4, 0.0), (5, 7, 1.0),
    ])
    func overprovisioningCapacity(healthy: Int, total: Int, expected: Double) {
        #expect(abs(TablePolicy().capacity(healthy: healthy, total: total) - expected) < 1e-9)
    }

    @Test func zeroHealthyKeepsTheFullShare() {
        let policy = TablePolicy(failover: .zeroHealthy)
        #expect(policy.capacity(healthy: 1, total: 10) == 1)
        #expect(policy.capacity(healthy: 0, total: 10) == 0)
    }

    @Test(arguments: [
        (0, 0.0), (5, 0.0), (9_999, 0.0), (10_000, 0.0), (12_500, 0.25), (15_000, 0.5), (20_000, 1.0), (60_000, 1.0),
    ])
    func rampAfterHoldDown(millis: Int64, expected: Double) {
        #expect(abs(TablePolicy().ramp(liveFor: .milliseconds(millis)) - expected) < 1e-9)
    }

    @Test func smoothCycleInterleaves() {
        #expect(EndpointPicker.smoothWeightedCycle([20, 80]) == [1, 1, 0, 1, 1])
        #expect(EndpointPicker.smoothWeightedCycle([50, 50]) == [0, 1])
        #expect(EndpointPicker.smoothWeightedCycle([0, 100]) == [1])
        #expect(EndpointPicker.smoothWeightedCycle([]) == [])
    }

    @Test func timestampsAreISO8601UTC() {
        #expect(Timestamp.iso8601(millis: 0) == "1970-01-01T00:00:00Z")
        #expect(Timestamp.iso8601(millis: 1_795_575_600_000) == "2026-11-25T03:00:00Z")
        #expect(Timestamp.iso8601(millis: 951_782_400_000) == "2000-02-29T00:00:00Z")
        #expect(Timestamp.iso8601(millis: 1_795_575_600_007) == "2026-11-25T03:00:00.007Z")
        #expect(Timestamp.millis(iso8601: Timestamp.iso8601(millis: 1_795_575_600_250)) == 1_795_575_600_250)
        #expect(Timestamp.millis(iso8601: "2026-11-25T03:00:00Z") == 1_795_575_600_000)
        #expect(Timestamp.millis(iso8601: "2026-11-25T03:00:00.250Z") == 1_795_575_600_250)
        #expect(Timestamp.millis(iso8601: "yesterday") == nil)
    }
}
