import SeededRandom
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

    func testClusterRostersAndTombstonesListExactlyTheirMembers() {
        var table = MemberTable()
        var rng = SplitMix64(seed: 9)
        let states: [MemberState] = [.alive, .alive, .suspect, .dead, .left]
        for step in 0..<3_000 {
            let i = Int.random(in: 0..<60, using: &rng)
            let name = "m\(i)"
            // Every fourth member has no cluster (a gateway): the "" roster is what the direct digest send reads.
            let cluster = i % 4 == 3 ? "" : "c\(i % 3)"
            switch Int.random(in: 0..<5, using: &rng) {
            case 0: table.removeValue(forKey: MemberKey(name: name, generation: 1))
            case 1:
                // A restart: the next generation takes the slot.
                if let m = table[name] {
                    table.replace(m.key, with: Fixture.member(name, cluster: cluster, generation: m.identity.generation + 1))
                }
            default:
                let generation = table[name]?.identity.generation ?? 1
                table.set(Fixture.member(name, cluster: cluster, generation: generation, state: states.randomElement(using: &rng)!))
            }
            for c in ["c0", "c1", "c2", ""] {
                let listed = table.aliveSlots(of: c).map { table.member(atSlot: $0).name }
                let alive = table.members.filter { $0.state == .alive && $0.identity.cluster == c }.map(\.name)
                XCTAssertEqual(listed.sorted(), alive.sorted(), "step \(step), cluster \(c)")
                XCTAssertEqual(Set(listed).count, listed.count, "step \(step): listed twice")
            }
            let tombstones = table.tombstoneSlots.map { table.member(atSlot: $0).key }
            let inactive = table.members.filter { !$0.state.isActive }.map(\.key)
            XCTAssertEqual(Set(tombstones), Set(inactive), "step \(step): the tombstone list is exactly the dead and left")
            XCTAssertEqual(tombstones.count, table.tombstoneCount, "step \(step)")
        }
    }

    /// The index by name (slots only, open addressing) finds every member held, newest generation first, and no
    /// other, through inserts, removals that shift probe chains back, restarts and older generations held beside.
    func testEveryMemberIsFoundByNameAndKeyAfterRandomChanges() {
        var table = MemberTable()
        var model: [MemberKey: MemberState] = [:]
        var rng = SplitMix64(seed: 17)
        let states: [MemberState] = [.alive, .suspect, .dead, .left]
        for step in 0..<6_000 {
            let name = "m\(Int.random(in: 0..<300, using: &rng))"
            let generation = UInt64.random(in: 1...3, using: &rng)
            let key = MemberKey(name: name, generation: generation)
            switch Int.random(in: 0..<3, using: &rng) {
            case 0:
                if table.removeValue(forKey: key) != nil { model[key] = nil }
            default:
                let state = states.randomElement(using: &rng)!
                table.set(Fixture.member(name, generation: generation, state: state))
                model[key] = state
            }
            guard step % 50 == 0 || step > 5_900 else { continue }
            XCTAssertEqual(table.count, model.count, "step \(step)")
            for (key, state) in model {
                XCTAssertEqual(table[key]?.state, state, "step \(step): \(key)")
                let newest = model.keys.filter { $0.name == key.name }.map(\.generation).max()
                XCTAssertEqual(table[key.name]?.identity.generation, newest, "step \(step): \(key.name)")
            }
            XCTAssertNil(table["nobody"])
        }
    }
}
