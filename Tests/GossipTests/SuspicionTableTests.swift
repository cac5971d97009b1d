import SeededRandom
import XCTest
@testable import Gossip

/// The suspicions' open-addressed table against a dictionary, under random sets, replacements and removals (the
/// removal shifts buckets back and moves the last suspicion into the gap, where a slip loses or misplaces one).
final class SuspicionTableTests: XCTestCase {
    func testAgreesWithADictionaryUnderRandomChanges() {
        let t0 = Fixture.epoch
        let settings = GossipSettings()
        var rng = SplitMix64(seed: 7)
        var table = SuspicionTable()
        var model: [MemberKey: UInt64] = [:]
        // Few names and two generations each, so that keys collide, come back and share names.
        let keys = (0..<40).flatMap { i in [MemberKey(name: "m\(i)", generation: 1), MemberKey(name: "m\(i)", generation: 2)] }
        for step in 0..<20_000 {
            let key = keys[Int.random(in: 0..<keys.count, using: &rng)]
            if Int.random(in: 0..<3, using: &rng) == 0 {
                XCTAssertEqual(table.remove(key), model.removeValue(forKey: key) != nil, "step \(step)")
            } else {
                let incarnation = UInt64(step)
                table.set(Suspicion(of: 50, at: t0, incarnation: incarnation, accuser: "x", settings: settings), of: key)
                model[key] = incarnation
            }
            XCTAssertEqual(table.count, model.count)
            if step % 97 == 0 {
                for k in keys {
                    XCTAssertEqual(table.slot(of: k).map { table[$0].incarnation }, model[k], "step \(step), \(k)")
                    if let s = table.slot(of: k) { XCTAssertEqual(table.keys[s], k) }
                }
            }
        }
        for k in keys where model[k] != nil { XCTAssertTrue(table.remove(k)) }
        XCTAssertTrue(table.isEmpty)
        XCTAssertNil(table.slot(of: keys[0]))
    }
}
