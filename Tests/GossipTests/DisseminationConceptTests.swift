import SeededRandom
import XCTest
@testable import Gossip
import Wire

/// The digest store, the news queues, the seeds and the tombstones.
final class DisseminationConceptTests: XCTestCase {
    func testDigestStoreTakesOnlyNewerDigestsAndAnOlderGenerationsOnlyWhileItRuns() {
        var table = MemberTable()
        table.set(Fixture.member("a", generation: 2))
        var store = DigestStore()
        let v1 = Fixture.digest("a", generation: 2, version: 1)
        guard let (slot, stored) = store.slot(for: v1.digest, in: table) else { return XCTFail("a first digest is news") }
        XCTAssertEqual(slot, .newest)
        XCTAssertNil(stored)
        store.store(v1, in: slot, table: table)
        XCTAssertNil(store.slot(for: v1.digest, in: table), "a duplicate is not news")
        XCTAssertNotNil(store.slot(for: Fixture.digest("a", generation: 2, version: 2).digest, in: table))
        XCTAssertNil(store.slot(for: Fixture.digest("a", generation: 1, version: 9).digest, in: table),
                     "a predecessor's digest is old news")
        // The older generation runs beside the newer one: its digest has a slot of its own.
        table.set(Fixture.member("a", generation: 1, at: 2))
        let older = Fixture.digest("a", generation: 1, version: 9)
        XCTAssertEqual(store.slot(for: older.digest, in: table)?.slot, .older(MemberKey(name: "a", generation: 1)))
        store.store(older, in: .older(MemberKey(name: "a", generation: 1)), table: table)
        XCTAssertEqual(store.all.map(\.digest.origin.generation), [1, 2])
        XCTAssertEqual(store.queueKey(of: older), "d:a#1")
        XCTAssertEqual(store.queueKey(of: v1), "d:a")
        store.forgetOlder(MemberKey(name: "a", generation: 1))
        XCTAssertEqual(store.all.count, 1)
    }

    func testDigestStoreSendsAPeerOnlyWhatItLacks() {
        var store = DigestStore()
        XCTAssertTrue(store.storeOwn(Fixture.digest("a", version: 3)))
        XCTAssertFalse(store.storeOwn(Fixture.digest("a", version: 3)))
        XCTAssertTrue(store.storeOwn(Fixture.digest("b", version: 1)))
        let peer = [SyncSummary.DigestEntry(origin: "a", order: DigestOrder(generation: 1, version: 3))]
        XCTAssertEqual(store.lacking(in: peer), [.digest(Fixture.digest("b", version: 1))])
        XCTAssertEqual(Set(store.summaryEntries.map(\.origin)), ["a", "b"])
    }

    func testEachUpdateGoesOnceInADatagramWhetherOrNotDigestsWait() {
        for digestWaits in [false, true] {
            var queue = Dissemination(capacity: 100, membershipShare: 0.5)
            for i in 0..<3 {
                queue.enqueueMembership(.accusation(Accusation(kind: .suspect, target: "m\(i)", generation: 1, incarnation: 0, accuser: "x")), key: "m\(i)")
            }
            let digest = GossipMessage.digest(Fixture.digest("a", version: 1))
            if digestWaits { queue.enqueueDigest(digest, key: "d:a", size: WireEncoding.encodedSize(of: digest)) }
            // Three accusations take far less than the share: before, the last pass took them again, and each went
            // twice in every datagram, spending two of its sends.
            let taken = queue.piggyback(budget: 1_000, used: 0, limit: 4)
            XCTAssertEqual(taken.messages.count, digestWaits ? 4 : 3, "digest waits: \(digestWaits)")
            var sent = taken.messages.count
            for _ in 0..<10 { sent += queue.piggyback(budget: 1_000, used: 0, limit: 4).messages.count }
            XCTAssertEqual(sent, (digestWaits ? 4 : 3) * 4, "each update in `limit` datagrams")
        }
    }

    func testPiggybackGivesMembershipNewsAtMostItsShareWhileDigestsWait() {
        var queue = Dissemination(capacity: 100, membershipShare: 0.5)
        XCTAssertTrue(queue.isEmpty)
        for i in 0..<40 {
            queue.enqueueMembership(.accusation(Accusation(kind: .suspect, target: "m\(i)", generation: 1, incarnation: 0, accuser: "x")), key: "m\(i)")
        }
        let digest = GossipMessage.digest(Fixture.digest("a", version: 1))
        queue.enqueueDigest(digest, key: "d:a", size: WireEncoding.encodedSize(of: digest))
        let taken = queue.piggyback(budget: 1_000, used: 100, limit: 3)
        XCTAssertTrue(taken.messages.contains(digest), "the digest is not starved")
        XCTAssertLessThanOrEqual(taken.bytes, 900)
        XCTAssertEqual(taken.bytes, taken.messages.reduce(0) { $0 + WireEncoding.encodedSize(of: $1) })
        // Each update goes at most `limit` times.
        var sent = 0
        for _ in 0..<200 { sent += queue.piggyback(budget: 1_000, used: 0, limit: 3).messages.count }
        XCTAssertEqual(sent + taken.messages.count, 41 * 3)
        XCTAssertTrue(queue.isEmpty)
    }

    func testSeedsAreEachTriedOnceAPassFirstAtTheProbeRate() {
        var seeds = SeedRotation()
        let own = Fixture.address(1)
        seeds.set([Fixture.address(1), Fixture.address(2), Fixture.address(3)], own: own)
        XCTAssertEqual(seeds.seeds.count, 2, "never itself")
        var rng = SplitMix64(seed: 4)
        let fast = Duration.milliseconds(500), slow = Duration.seconds(2)
        let pass1 = (0..<2).compactMap { _ in seeds.next(probeInterval: fast, deadProbeInterval: slow, rng: &rng) }
        XCTAssertEqual(Set(pass1.map(\.seed)), [Fixture.address(2), Fixture.address(3)])
        XCTAssertEqual(pass1.map(\.wait), [fast, fast])
        XCTAssertEqual(seeds.next(probeInterval: fast, deadProbeInterval: slow, rng: &rng)?.wait, slow, "later passes are slower")
        seeds.noteCompany()
        XCTAssertEqual(seeds.passes, 0)
        XCTAssertFalse(seeds.replace(with: [Fixture.address(3), Fixture.address(2)], own: own), "same set")
        XCTAssertTrue(seeds.replace(with: [Fixture.address(4)], own: own))
        XCTAssertEqual(seeds.next(probeInterval: fast, deadProbeInterval: slow, rng: &rng)?.seed, Fixture.address(4))
    }

    func testTombstonesExpireAfterTheirTimeAndBeyondTheirBound() {
        var table = MemberTable()
        table.set(Fixture.member("alive"))
        table.set(Fixture.member("old", state: .dead, since: .zero))
        table.set(Fixture.member("left", state: .left, since: .seconds(50)))
        table.set(Fixture.member("young", state: .dead, since: .seconds(90)))
        let sweep = Tombstones.sweep(table, now: Fixture.epoch + .seconds(100), tombstoneTime: .seconds(60))
        XCTAssertEqual(sweep.expired.map(\.name), ["old"])
        XCTAssertEqual(sweep.dead.map(\.name), ["young"], "only the dead are probed again, not the departed")
        XCTAssertEqual(Tombstones.excess(in: table, maximum: 1).map(\.name), ["old", "left"], "oldest first")
        XCTAssertTrue(Tombstones.excess(in: table, maximum: 3).isEmpty)

        var t = Tombstones()
        let now = Fixture.epoch
        XCTAssertTrue(t.shouldRepair(with: Fixture.address(5), now: now, interval: .seconds(2)))
        XCTAssertFalse(t.shouldRepair(with: Fixture.address(5), now: now + .seconds(1), interval: .seconds(2)))
        XCTAssertTrue(t.shouldRepair(with: Fixture.address(5), now: now + .seconds(2), interval: .seconds(2)))
        XCTAssertFalse(t.isBursting(at: now))
        t.startBurst(until: now + .seconds(10))
        XCTAssertTrue(t.isBursting(at: now + .seconds(9)))
        XCTAssertFalse(t.isBursting(at: now + .seconds(10)))
    }
}
