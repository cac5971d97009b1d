import SeededRandom
import XCTest
@testable import Gossip
import Wire

/// The round robin, the cluster search, and the probes and relays under way.
final class ProbingConceptTests: XCTestCase {
    func table(_ names: [String], cluster: (String) -> String = { _ in "c1" }, dead: Set<String> = []) -> MemberTable {
        var t = MemberTable()
        for n in names { t.set(Fixture.member(n, cluster: cluster(n), state: dead.contains(n) ? .dead : .alive)) }
        return t
    }

    func testRoundRobinVisitsEveryActiveMemberOnceARoundInAShuffledOrder() {
        let names = (0..<20).map { "m\($0)" }
        let t = table(names, dead: ["m3", "m4"])
        var round = ProbeRound()
        var rng = SplitMix64(seed: 1)
        var rounds: [[String]] = []
        for _ in 0..<3 {
            var visited: [String] = []
            for _ in 0..<18 { visited.append(round.next(in: t, isProbing: { _ in false }, rng: &rng)!.name) }
            rounds.append(visited)
        }
        for r in rounds { XCTAssertEqual(Set(r), Set(names).subtracting(["m3", "m4"])) }
        XCTAssertNotEqual(rounds[0], rounds[1], "each round is shuffled anew")
    }

    func testRoundRobinSkipsMembersUnderProbeAndAdmitsNewcomersIntoTheCurrentRound() {
        var t = table(["a", "b", "c", "d"])
        var round = ProbeRound()
        var rng = SplitMix64(seed: 2)
        let first = round.next(in: t, isProbing: { $0.name == "b" }, rng: &rng)!
        XCTAssertNotEqual(first.name, "b")
        t.set(Fixture.member("e"))
        round.admit("e", rng: &rng)
        var rest: [String] = []
        while let m = round.next(in: t, isProbing: { $0.name == first.name }, rng: &rng), rest.count < 4, !rest.contains(m.name) {
            rest.append(m.name)
        }
        XCTAssertTrue(rest.contains("e"), "the newcomer is probed within the current round: \(rest)")
    }

    func testSiblingsAreAliveMembersOfTheClusterNotUnderProbe() {
        let names = (0..<40).map { "m\($0)" }
        let t = table(names, cluster: { n in Int(n.dropFirst())! % 4 == 3 ? "c2" : "c1" }, dead: ["m7"])
        var rng = SplitMix64(seed: 3)
        for _ in 0..<20 {
            let found = ClusterSearch.siblings(in: "c2", of: t, count: 3, isProbing: { $0.name == "m11" }, rng: &rng)
            XCTAssertEqual(found.count, 3)
            for m in found {
                XCTAssertEqual(m.identity.cluster, "c2")
                XCTAssertEqual(m.state, .alive)
                XCTAssertNotEqual(m.name, "m11")
            }
        }
        XCTAssertTrue(ClusterSearch.siblings(in: "c9", of: t, count: 3, isProbing: { _ in false }, rng: &rng).isEmpty)
    }

    func testSearchBudgetAndQueueAreBounded() {
        var search = ClusterSearch()
        for _ in 0..<ClusterSearch.maxSearches { XCTAssertTrue(search.spend()) }
        XCTAssertFalse(search.spend(), "at most maxSearches a period")
        search.renewBudget()
        XCTAssertTrue(search.spend())
        let t = table((0..<10).map { "m\($0)" }, dead: ["m9"])
        for i in 0..<10 { search.queue("m\(i)") }
        search.queue("m9")
        var out: [String] = []
        while let m = search.nextQueued(in: t, isProbing: { _ in false }) { out.append(m.name) }
        XCTAssertEqual(out, ["m8", "m7", "m6"], "only the newest few, newest first, and only the alive")
    }

    func testProbesAnswerNackAndRelays() {
        let t0 = Fixture.epoch
        var probes = ProbesInFlight()
        probes.start(Probe(target: "a", generation: 1, incarnation: 0, address: Fixture.address(1), sequence: 5,
                           timeoutAt: t0 + .milliseconds(250), endAt: t0 + .milliseconds(500)))
        probes.start(Probe(target: "b", generation: 1, incarnation: 0, address: Fixture.address(2), sequence: 6,
                           timeoutAt: t0 + .milliseconds(250), endAt: t0 + .milliseconds(500), isSearch: true))
        XCTAssertTrue(probes.hasRoundProbe)
        XCTAssertEqual(probes.searches, 1)
        XCTAssertTrue(probes.isProbing(MemberKey(name: "b", generation: 1)))
        XCTAssertFalse(probes.isProbing(MemberKey(name: "b", generation: 2)))
        probes.noteNack(sequence: 6)
        XCTAssertEqual(probes[1].nacks, 1)
        XCTAssertFalse(probes.answer(sequence: 5, from: "b"), "an ack must come from the target")
        XCTAssertTrue(probes.answer(sequence: 5, from: "a"))
        XCTAssertFalse(probes.hasRoundProbe)

        var relays = Relays()
        relays.start(.init(requester: Fixture.address(9), requesterSequence: 77, target: "a", nackAt: t0 + .milliseconds(200),
                           expiresAt: t0 + .milliseconds(500)), sequence: 1)
        relays.start(.init(requester: Fixture.address(9), requesterSequence: 78, target: "b", nackAt: nil,
                           expiresAt: t0 + .milliseconds(500)), sequence: 2)
        XCTAssertEqual(relays.nextWake, t0 + .milliseconds(200))
        XCTAssertTrue(relays.due(now: t0 + .milliseconds(100)).isEmpty)
        XCTAssertEqual(relays.due(now: t0 + .milliseconds(200)).map(\.requesterSequence), [77])
        XCTAssertTrue(relays.due(now: t0 + .milliseconds(300)).isEmpty, "nacked once")
        XCTAssertNil(relays.answer(sequence: 2, from: "a"), "answered by someone else than its target")
        XCTAssertNil(relays.answer(sequence: 2, from: "b"), "and then gone")
        _ = relays.due(now: t0 + .milliseconds(500))
        XCTAssertTrue(relays.isEmpty)
    }
}
