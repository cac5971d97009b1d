import XCTest
@testable import Gossip
import Wire

/// What a state sync sends a peer, judged by its summary.
final class SyncRecordsTests: XCTestCase {
    func entry(_ name: String, generation: UInt64 = 1, incarnation: UInt64 = 0, _ state: MemberState = .alive) -> SyncSummary.MemberEntry {
        .init(name: name, generation: generation, incarnation: incarnation, status: state.summaryCode)
    }

    func testAPeerGetsWhatItLacksAndTombstonesOnlyWhereTheyAreNews() {
        let now = Fixture.epoch + .seconds(1_000)
        var table = MemberTable()
        table.set(Fixture.member("known", incarnation: 2))
        table.set(Fixture.member("newer", incarnation: 5))
        table.set(Fixture.member("unknown"))
        table.set(Fixture.member("dead", state: .dead, since: .seconds(990)))
        table.set(Fixture.member("ancient", state: .dead, since: .zero))
        table.set(Fixture.member("peer", incarnation: 9))
        let own = Fixture.member("self").record
        let summary = SyncSummary(sender: "peer", members: [entry("peer"), entry("known", incarnation: 2), entry("newer", incarnation: 4)],
                                  digests: [], wantsReply: true)
        let out = SyncRecords.lacking(in: SyncRecords.PeerView(summary), own: own, table: table, accuser: "self",
                                      relayAge: .seconds(500), now: now)
        let names = out.map { message -> String in
            switch message {
            case .member(let r): return "member:" + r.record.identity.name
            case .accusation(let a): return "verdict:" + a.target
            default: return "?"
            }
        }
        XCTAssertEqual(names, ["member:self", "member:dead", "verdict:dead", "member:newer", "member:unknown"],
                       "own record, a young tombstone with its verdict, newer and unknown records; not the peer itself")
    }

    func testSummaryListsThisMemberFirstThenTheTable() {
        var table = MemberTable()
        table.set(Fixture.member("b", state: .suspect))
        var store = DigestStore()
        _ = store.storeOwn(Fixture.digest("b", version: 2))
        let s = SyncRecords.summary(own: entry("a"), sender: "a", table: table, digests: store, wantsReply: false)
        XCTAssertEqual(s.members.map(\.name), ["a", "b"])
        XCTAssertEqual(s.members[1].status, MemberState.suspect.summaryCode)
        XCTAssertEqual(s.digests.map(\.origin), ["b"])
        XCTAssertFalse(s.wantsReply)
    }
}
