import SeededRandom
import XCTest

@testable import KubernetesDiscovery

final class BackoffTests: XCTestCase {
    func testWithoutJitterTheDelayDoublesUpToTheCap() {
        let backoff = Backoff(initial: .milliseconds(500), maximum: .seconds(4), multiplier: 2, jitter: 0)
        var generator = SplitMix64(seed: 1)
        let table: [(Int, Duration)] = [
            (0, .zero), (1, .milliseconds(500)), (2, .seconds(1)), (3, .seconds(2)), (4, .seconds(4)),
            (5, .seconds(4)), (1000, .seconds(4)),
        ]
        for (failures, expected) in table {
            XCTAssertEqual(backoff.delay(afterFailures: failures, using: &generator), expected, "after \(failures)")
        }
    }

    func testJitterStaysWithinItsShareAndIsDeterministicForASeed() {
        let backoff = Backoff(initial: .seconds(1), maximum: .seconds(30), multiplier: 2, jitter: 0.5)
        var first = SplitMix64(seed: 7)
        var second = SplitMix64(seed: 7)
        for failures in 1...12 {
            let nominal = min(Double(1 << (failures - 1)), 30)
            let delay = backoff.delay(afterFailures: failures, using: &first)
            let seconds = Backoff.seconds(delay)
            XCTAssertGreaterThanOrEqual(seconds, nominal * 0.5 - 1e-9, "after \(failures)")
            XCTAssertLessThanOrEqual(seconds, nominal + 1e-9, "after \(failures)")
            XCTAssertEqual(delay, backoff.delay(afterFailures: failures, using: &second))
        }
    }
}
