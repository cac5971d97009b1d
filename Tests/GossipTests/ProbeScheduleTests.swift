import XCTest
@testable import Gossip

/// The round robin by turns: a ring shared by every member, walked by each from its own place, one step per slot.
final class ProbeScheduleTests: XCTestCase {
    let names = (0..<13).map { "m\($0)" }

    /// The table and schedule of `own` in a mesh of `names` (`dead` held dead), as every member would hold them.
    func view(of own: String, dead: Set<String> = []) -> (MemberTable, ProbeSchedule) {
        var t = MemberTable()
        var s = ProbeSchedule(own: own)
        for n in names where n != own {
            t.set(Fixture.member(n, state: dead.contains(n) ? .dead : .alive))
            s.add(n)
        }
        return (t, s)
    }

    func testEachMemberProbesEveryOtherOnceARound() {
        var (t, s) = view(of: "m4")
        var visited: [String] = []
        for slot in UInt64(1_000)..<UInt64(1_000 + names.count - 1) {
            visited.append(s.next(slot: slot, in: t, isProbing: { _ in false })!.name)
        }
        XCTAssertEqual(visited.count, 12)
        XCTAssertEqual(Set(visited), Set(names).subtracting(["m4"]), "a round of R − 1 slots visits every other member once")
        t.set(Fixture.member("m4x"))
        s.add("m4x")
        let next = (0..<13).map { s.next(slot: 2_000 + UInt64($0), in: t, isProbing: { _ in false })!.name }
        XCTAssertEqual(Set(next), Set(names + ["m4x"]).subtracting(["m4"]), "a newcomer takes its place in the ring")
    }

    func testInEachSlotEveryMemberIsProbedByExactlyOneOther() {
        var views = names.map { view(of: $0) }
        for slot in UInt64(77)..<UInt64(77 + 30) {
            var probedBy: [String: Int] = [:]
            for i in views.indices {
                let (t, _) = views[i]
                let target = views[i].1.next(slot: slot, in: t, isProbing: { _ in false })!
                probedBy[target.name, default: 0] += 1
            }
            XCTAssertEqual(probedBy.count, names.count, "slot \(slot): everyone is probed")
            XCTAssertTrue(probedBy.values.allSatisfy { $0 == 1 }, "slot \(slot): by one prober each: \(probedBy)")
        }
    }

    func testATurnThatFallsOnADeadOrProbedMemberPassesToTheNextInTheRing() {
        var (t, s) = view(of: "m0", dead: ["m5"])
        var seen: [String] = []
        for slot in UInt64(0)..<UInt64(12) {
            let m = s.next(slot: slot, in: t, isProbing: { $0.name == "m7" })!
            XCTAssertEqual(m.state, .alive)
            seen.append(m.name)
        }
        XCTAssertFalse(seen.contains("m5"))
        XCTAssertFalse(seen.contains("m7"))
        XCTAssertEqual(Set(seen), Set(names).subtracting(["m0", "m5", "m7"]), "every other live member still gets its turn")
        s.remove("m5")
        _ = t.removeValue(forKey: MemberKey(name: "m5", generation: 1))
        XCTAssertEqual(Set((0..<11).map { s.next(slot: 100 + UInt64($0), in: t, isProbing: { _ in false })!.name }),
                       Set(names).subtracting(["m0", "m5"]))
    }

    func testAClockThatStandsStillOrStepsBackStillMovesTheRoundOn() {
        var (t, s) = view(of: "m2")
        let first = s.next(slot: 500, in: t, isProbing: { _ in false })!.name
        var visited = [first]
        for slot in [UInt64(500), 500, 499, 3] + Array(repeating: UInt64(500), count: 7) {
            visited.append(s.next(slot: slot, in: t, isProbing: { _ in false })!.name)
        }
        visited.append(s.next(slot: nil, in: t, isProbing: { _ in false })!.name)
        XCTAssertEqual(Set(visited).count, 12, "no target repeats within a round: \(visited)")
    }

    func testTheRingOrderIsAFixedHashOfTheName() {
        // Every member must compute the same ring, in every process and release: not Swift's seeded hash.
        XCTAssertEqual(ProbeSchedule.key("m0"), 0x1E59307A6FB699BB)
        XCTAssertEqual(ProbeSchedule.key("c1-a"), 0x41441769DC32D0BE)
    }
}
