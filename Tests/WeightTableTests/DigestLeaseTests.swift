import Testing
import Wire
@testable import WeightTable

/// A digest is a lease: a live agent whose probes stalled stops vouching once its last digest is older than
/// `TablePolicy.digestLease`, and the table says why.
@Suite("Digest lease")
struct DigestLeaseTests {
    let t0 = ContinuousClock.now
    let route = demoRoute(["c1": 20, "c2": 80])
    let lease: Duration = .seconds(90)
    /// The gateway's wall clock at every build of these tests.
    let now: UInt64 = 1_764_039_600_000

    var policy: TablePolicy { TablePolicy(digestLease: lease) }

    /// Both clusters healthy; c1's digest fresh, c2's issued `c2Age` ms before `now`.
    func mesh(c2Age: UInt64, c1Age: UInt64 = 1_000) -> Mesh {
        var mesh = Mesh()
        mesh.cluster("c1", healthy: 2)
        mesh.cluster("c2", healthy: 2)
        mesh.digests[0].issuedAtMillis = now - c1Age
        mesh.digests[1].issuedAtMillis = now - c2Age
        return mesh
    }

    func build(_ mesh: Mesh, policy: TablePolicy? = nil, state: TableState = TableState(), millis: UInt64? = nil)
        -> (table: RoutingTable, state: TableState) {
        TableBuilder.build(mesh.inputs([route], millis: millis ?? now), state: state, policy: policy ?? self.policy, now: t0)
    }

    @Test func aDigestJustInsideItsLeaseStillVouches() {
        let (table, state) = build(mesh(c2Age: 90_000))
        #expect(table.effective() == ["c1": 20, "c2": 80])
        #expect(state.expiredOrigins.isEmpty)
        // c2's digest is the older one, so its lease runs out first: the first millisecond past 90 s.
        #expect(state.nextLeaseExpiryMillis == now + 1)
    }

    @Test func aDigestJustPastItsLeaseStopsVouchingAndTheTableSaysWhy() throws {
        let (table, state) = build(mesh(c2Age: 90_001))
        #expect(table.effective() == ["c1": 100, "c2": 0])
        let c2 = try #require(table.cluster("c2"))
        #expect(c2.state == .failed)
        #expect(c2.reason == "no live agent vouches for c2: the digest from c2-a is past the 90s lease (issued 2025-11-25T02:58:29.999Z): is its agent's probe loop stalled?")
        #expect(c2.totalEndpoints == 2, "an expired digest still tells how many endpoints the cluster had")
        #expect(state.expiredOrigins == ["c2-a"])
        #expect(state.nextLeaseExpiryMillis == now - 1_000 + 90_001, "the next lease to run out is c1's")
    }

    @Test func theStalledAgentsOldDigestWouldVouchForEverWithoutALease() {
        // The fault: a digest a day old, from a member the mesh still sees alive, keeps c2 at its full share.
        let (table, state) = build(mesh(c2Age: 86_400_000), policy: TablePolicy())
        #expect(table.effective() == ["c1": 20, "c2": 80])
        #expect(state.nextLeaseExpiryMillis == nil)
        let (leased, _) = build(mesh(c2Age: 86_400_000))
        #expect(leased.effective() == ["c1": 100, "c2": 0])
    }

    @Test func oneFreshAgentStillVouchesForItsCluster() {
        var m = mesh(c2Age: 1_000)
        m.agent("c2-b", cluster: "c2", endpoints: [("c2.pod1", 8080, .healthy), ("c2.pod2", 8080, .healthy)])
        m.digests[2].issuedAtMillis = now - 200_000
        let (table, state) = build(m)
        #expect(table.effective() == ["c1": 20, "c2": 80])
        #expect(state.expiredOrigins == ["c2-b"])
    }

    @Test func everyAgentExpiredIsNamedWithTheNewestIssueTime() throws {
        var m = mesh(c2Age: 100_000)
        for name in ["c2-b", "c2-c", "c2-d"] {
            m.agent(name, cluster: "c2", endpoints: [("c2.pod1", 8080, .healthy)])
        }
        m.digests[2].issuedAtMillis = now - 95_000
        m.digests[3].issuedAtMillis = now - 300_000
        m.digests[4].issuedAtMillis = now - 400_000
        let (table, state) = build(m)
        #expect(state.expiredOrigins == ["c2-a", "c2-b", "c2-c", "c2-d"])
        let reason = try #require(table.cluster("c2")?.reason)
        #expect(reason == "no live agent vouches for c2: the digests from c2-a, c2-b, c2-c and 1 more are past the 90s lease (newest issued 2025-11-25T02:58:25Z): are their agents' probe loops stalled?")
    }

    @Test func aDeadMembersDigestIsNotReportedAsExpired() throws {
        var m = mesh(c2Age: 200_000)
        m.setLive("c2", false)
        let (table, state) = build(m)
        #expect(table.cluster("c2")?.reason == "no live agent vouches for c2")
        #expect(state.expiredOrigins.isEmpty)
    }

    @Test func aDigestFromTheFutureIsOfAgeZero() {
        // Clock skew (bounded at 30 s by the gossip layer) must not expire, nor crash on, a digest issued "later".
        var m = mesh(c2Age: 0)
        m.digests[1].issuedAtMillis = now + 30_000
        let (table, state) = build(m)
        #expect(table.effective() == ["c1": 20, "c2": 80])
        #expect(state.nextLeaseExpiryMillis == now - 1_000 + 90_001)
    }

    @Test func theTableStaysTheSameWhileTheLeaseStaysRunOut() {
        // The reason names no running age, so later rebuilds with nothing new keep the version (and the outputs)
        // still; order of digests and members does not matter either.
        let first = build(mesh(c2Age: 90_001))
        var later = first
        for step in 1...5 {
            later = build(mesh(c2Age: 90_001), state: later.state, millis: now + UInt64(step) * 1_000)
        }
        #expect(later.table.version == first.table.version)
        #expect(later.table.routes == first.table.routes)
        var shuffled = mesh(c2Age: 90_001)
        shuffled.digests.reverse()
        shuffled.members.reverse()
        let again = build(shuffled)
        #expect(again.table.routes == first.table.routes)
        #expect(again.table.hash == first.table.hash)
        #expect(again.state == first.state)
    }

    @Test func aRefreshedDigestVouchesAgainAsAFailback() {
        let served = build(mesh(c2Age: 1_000))
        let expired = build(mesh(c2Age: 95_000), state: served.state)
        #expect(expired.table.effective() == ["c1": 100, "c2": 0])
        // The agent recovers and re-issues: c2 is live again, and the hold-down damps its return as for any failure.
        let refreshed = TableBuilder.build(mesh(c2Age: 0).inputs([route], millis: now + 5_000), state: expired.state,
                                           policy: policy, now: t0.advanced(by: .seconds(5)))
        #expect(refreshed.table.cluster("c2")?.state == .recovering)
        #expect(refreshed.state.expiredOrigins.isEmpty)
    }

    @Test(arguments: [
        (issued: UInt64(1_000), now: UInt64(91_000), expired: false),
        (issued: 1_000, now: 91_001, expired: true),
        (issued: 91_001, now: 1_000, expired: false),
        (issued: 0, now: .max, expired: true),
    ])
    func expiry(_ c: (issued: UInt64, now: UInt64, expired: Bool)) {
        #expect(DigestLease.isExpired(issuedAt: c.issued, now: c.now, lease: .seconds(90)) == c.expired)
    }

    @Test func expiryInstantsSaturate() {
        #expect(DigestLease.expiryMillis(issuedAt: 1_000, lease: .seconds(90)) == 91_001)
        #expect(DigestLease.expiryMillis(issuedAt: .max - 10, lease: .seconds(90)) == .max)
        #expect(DigestLease.ageMillis(issuedAt: 5, now: 3) == 0)
        #expect(DigestLease.millis(.milliseconds(1_500)) == 1_500)
        #expect(DigestLease.millis(.seconds(-1)) == 0)
    }
}
