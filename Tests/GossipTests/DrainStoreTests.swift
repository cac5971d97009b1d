import MeshCrypto
import Wire
import XCTest

@testable import Gossip

/// The drain store's rules: newest per cluster and route whatever the arrival order, forgotten after its time, and
/// bounded in count so that a flood of valid-looking orders cannot grow memory.
final class DrainStoreTests: XCTestCase {
    let now: UInt64 = 1_800_000_000_000

    func order(_ cluster: String, route: String = "", issued: UInt64 = 0, minutes: UInt64 = 30, signature: UInt8 = 1) -> SignedDrain {
        let issuedAt = now + issued
        return SignedDrain(drain: DrainRecord(cluster: cluster, route: route, issuedAtMillis: issuedAt, untilMillis: issuedAt + minutes * 60_000),
                           keyID: KeyID(rawValue: 7), signature: Array(repeating: signature, count: 64))
    }

    func testTheNewestOrderWinsWhateverTheArrivalOrder() {
        let orders = [order("c1", issued: 0), order("c1", issued: 5, minutes: 0), order("c1", issued: 5, minutes: 0, signature: 2),
                      order("c1", issued: 3, minutes: 60), order("c2", route: "r")]
        var rng = SystemRandomNumberGenerator()
        var reference: [SignedDrain]?
        for _ in 0..<20 {
            var store = DrainStore()
            for o in orders.shuffled(using: &rng) where store.isNews(o, nowMillis: now) { _ = store.store(o, nowMillis: now) }
            if let reference { XCTAssertEqual(store.all, reference) } else { reference = store.all }
        }
        XCTAssertEqual(reference?.map(\.drain.target), [DrainTarget(cluster: "c1", route: ""), DrainTarget(cluster: "c2", route: "r")])
        XCTAssertEqual(reference?.first?.signature.first, 2, "a tie is broken by the signature's bytes")
        XCTAssertTrue(reference?.first?.drain.isUndrain ?? false)
    }

    func testOrdersAreForgottenAfterTheirTimeAndAReplayOfAnEndedDrainIsNoNews() {
        var store = DrainStore()
        let drain = order("c1", minutes: 30)
        XCTAssertTrue(store.store(drain, nowMillis: now))
        let later = DrainRules.keptUntil(drain.drain)
        XCTAssertEqual(later, now + 30 * 60_000 + DrainRules.graceMillis)
        store.forget(nowMillis: later)
        XCTAssertTrue(store.all.isEmpty)
        XCTAssertFalse(store.isNews(drain, nowMillis: later), "an ended drain replayed after it was forgotten is dropped unread")
        // An undrain is kept for the longest drain it could have beaten.
        let undrain = order("c1", issued: 1, minutes: 0)
        XCTAssertEqual(DrainRules.keptUntil(undrain.drain), now + 1 + DrainRules.maxDurationMillis + DrainRules.graceMillis)
    }

    func testTheCountIsBounded() {
        var store = DrainStore(capacity: 4)
        for i in 0..<10 { _ = store.store(order("c\(i)", issued: UInt64(i), minutes: UInt64(10 + i)), nowMillis: now) }
        XCTAssertEqual(store.all.count, 4)
        XCTAssertEqual(Set(store.all.map(\.drain.cluster)), ["c6", "c7", "c8", "c9"], "the ones forgotten soonest went first")
        XCTAssertFalse(store.store(order("c99", minutes: 1), nowMillis: now), "an order that would go first is not kept")
    }
}
