import XCTest
@testable import Gossip

/// The member table keeps its own counts of active members and tombstones, through every way a member changes.
final class MemberTableTests: XCTestCase {
    func testCountsFollowInsertsStateChangesRestartsAndRemovals() {
        var table = MemberTable()
        table.set(Fixture.member("a"))
        table.set(Fixture.member("b"))
        table.set(Fixture.member("c", state: .dead))
        XCTAssertEqual([table.activeCount, table.tombstoneCount], [2, 1])
        table.set(Fixture.member("a", state: .suspect))
        XCTAssertEqual([table.activeCount, table.tombstoneCount], [2, 1], "suspect is still active")
        table.set(Fixture.member("a", state: .dead))
        XCTAssertEqual([table.activeCount, table.tombstoneCount], [1, 2])
        // A restart takes its predecessor's place: a dead predecessor replaced by a live successor.
        table.replace(MemberKey(name: "a", generation: 1), with: Fixture.member("a", generation: 2))
        XCTAssertEqual([table.activeCount, table.tombstoneCount], [2, 1])
        // An older generation held beside a newer one counts as a member of its own.
        table.set(Fixture.member("b", generation: 0))
        XCTAssertEqual([table.activeCount, table.tombstoneCount], [3, 1])
        XCTAssertTrue(table.hasOlderGenerations)
        table.removeValue(forKey: MemberKey(name: "b", generation: 1))
        XCTAssertEqual(table["b"]?.identity.generation, 0, "the older generation becomes the newest")
        table.removeValue(forKey: MemberKey(name: "c", generation: 1))
        table.removeValue(forKey: MemberKey(name: "nobody", generation: 1))
        XCTAssertEqual([table.activeCount, table.tombstoneCount], [2, 0])
        XCTAssertEqual(table.count, 2)
    }

    func testCountsMatchAScanAfterRandomChanges() {
        var table = MemberTable()
        var rng = SystemRandomNumberGenerator()
        let states: [MemberState] = [.alive, .suspect, .dead, .left]
        for step in 0..<2_000 {
            let name = "m\(Int.random(in: 0..<50, using: &rng))"
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: table.removeValue(forKey: MemberKey(name: name, generation: 1))
            default: table.set(Fixture.member(name, state: states.randomElement(using: &rng)!))
            }
            let active = table.members.filter(\.state.isActive).count
            XCTAssertEqual(table.activeCount, active, "step \(step)")
            XCTAssertEqual(table.tombstoneCount, table.count - active, "step \(step)")
        }
    }
}
