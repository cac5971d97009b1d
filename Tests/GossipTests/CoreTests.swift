import SeededRandom
import XCTest
import Gossip
import GossipSimulation
import MeshCrypto
import Wire

/// The core driven by hand, one input at a time.
final class CoreTests: XCTestCase {
    let keyC1 = try! SigningKeyPair(seed: [UInt8](repeating: 1, count: 32))
    let keyC2 = try! SigningKeyPair(seed: [UInt8](repeating: 2, count: 32))
    var roster: TrustRoster { TrustRoster(["c1": [keyC1.publicKey], "c2": [keyC2.publicKey]]) }
    let start = ContinuousClock.now
    var rng = SplitMix64(seed: 42)
    let wall: UInt64 = 1_800_000_000_000

    func address(_ i: UInt32) -> PeerAddress { PeerAddress(host: .v4(0x7F00_0000 | i), port: 7946) }

    func makeCore(_ name: String, generation: UInt64 = 1, cluster: String = "c1", at i: UInt32) -> GossipCore {
        GossipCore(identity: MemberIdentity(name: name, cluster: cluster, generation: generation), address: address(i),
                   signer: cluster == "c1" ? keyC1 : keyC2, verifier: RecordVerifier(roster: roster))
    }

    func sends(_ directives: [GossipDirective]) -> [(messages: [GossipMessage], to: PeerAddress)] {
        directives.compactMap { if case .send(let m, let to, _) = $0 { return (m, to) } else { return nil } }
    }

    /// Has `core` hear the records of `count` members m0, m1, … that just joined: news it then has to gossip.
    func hearOfJoins(_ count: Int, into core: inout GossipCore) {
        for i in 0..<count {
            var joiner = makeCore("m\(i)", at: UInt32(10 + i))
            _ = joiner.join(seeds: [], now: start, wallClockMillis: wall, rng: &rng)
            _ = core.onPacket([.member(joiner.ownRecord)], from: address(UInt32(10 + i)), now: start, wallClockMillis: wall, rng: &rng)
        }
    }

    func testPingForThisMemberIsAckedAndPingForAnotherIsNot() {
        var a = makeCore("a", at: 1)
        let mine = a.onPacket([.ping(Ping(sequence: 7, source: "b", target: "a", targetGeneration: 1))], from: address(2),
                              now: start, wallClockMillis: wall, rng: &rng)
        XCTAssertTrue(sends(mine).contains { $0.to == address(2) && $0.messages.contains(.ack(Ack(sequence: 7, source: "a"))) })
        let other = a.onPacket([.ping(Ping(sequence: 8, source: "b", target: "a", targetGeneration: 99))], from: address(2),
                               now: start, wallClockMillis: wall, rng: &rng)
        XCTAssertTrue(sends(other).isEmpty, "a ping for another generation at this address gets no answer")
    }

    func testAccusationIsRefutedWithANewIncarnationSentBack() {
        var a = makeCore("a", at: 1)
        let accusation = Accusation(kind: .suspect, target: "a", generation: 1, incarnation: 0, accuser: "b")
        let out = a.onPacket([.accusation(accusation)], from: address(2), now: start, wallClockMillis: wall, rng: &rng)
        XCTAssertEqual(a.incarnation, 1)
        let record = sends(out).flatMap(\.messages).compactMap { if case .member(let r) = $0 { return r } else { return nil } }
        XCTAssertEqual(record.first?.record.incarnation, 1)
        XCTAssertNil(RecordVerifier(roster: roster).verify(record[0]))
        // A predecessor's accusation does not move the incarnation.
        _ = a.onPacket([.accusation(Accusation(kind: .dead, target: "a", generation: 0, incarnation: 5, accuser: "b"))],
                       from: address(2), now: start, wallClockMillis: wall, rng: &rng)
        XCTAssertEqual(a.incarnation, 1)
    }

    func testGenerationsDecideBetweenPredecessorAndSuccessor() {
        var a = makeCore("a", at: 1)
        let old = makeCore("b", generation: 5, at: 2).ownRecord
        let new = makeCore("b", generation: 6, at: 2).ownRecord
        _ = a.onPacket([.member(new)], from: address(2), now: start, wallClockMillis: wall, rng: &rng)
        _ = a.onPacket([.member(old)], from: address(2), now: start, wallClockMillis: wall, rng: &rng)
        XCTAssertEqual(a.member(named: "b")?.identity.generation, 6)
        _ = a.onPacket([.accusation(Accusation(kind: .dead, target: "b", generation: 5, incarnation: 9, accuser: "c"))],
                       from: address(3), now: start, wallClockMillis: wall, rng: &rng)
        XCTAssertEqual(a.member(named: "b")?.state, .alive, "the predecessor's death does not touch the successor")
        _ = a.onPacket([.accusation(Accusation(kind: .dead, target: "b", generation: 6, incarnation: 0, accuser: "c"))],
                       from: address(3), now: start, wallClockMillis: wall, rng: &rng)
        XCTAssertEqual(a.member(named: "b")?.state, .dead)
        // The same record again cannot revive it: only a newer incarnation or generation can.
        _ = a.onPacket([.member(new)], from: address(2), now: start, wallClockMillis: wall, rng: &rng)
        XCTAssertEqual(a.member(named: "b")?.state, .dead)
        let successor = makeCore("b", generation: 7, at: 2).ownRecord
        _ = a.onPacket([.member(successor)], from: address(2), now: start, wallClockMillis: wall, rng: &rng)
        XCTAssertEqual(a.member(named: "b")?.state, .alive)
        XCTAssertEqual(a.member(named: "b")?.identity.generation, 7)
    }

    func testRecordSignedByAnotherClusterIsRejected() {
        var a = makeCore("a", at: 1)
        var record = makeCore("b", at: 2).ownRecord
        record.record.identity.cluster = "c2"   // claims c2, signed with c1's key
        let out = a.onPacket([.member(record)], from: address(2), now: start, wallClockMillis: wall, rng: &rng)
        XCTAssertNil(a.member(named: "b"))
        XCTAssertTrue(out.contains { if case .recordRejected = $0 { return true } else { return false } })
    }

    func testDigestsAreNeverStarvedByMembershipChatter() {
        var a = makeCore("a", at: 1)
        // Sixty members' join news is waiting to be gossiped.
        hearOfJoins(60, into: &a)
        let digest = HealthDigest(origin: a.identity, incarnation: 0, version: 1, issuedAtMillis: wall,
                                  endpoints: [EndpointHealth(service: "s/a", host: "10.0.0.1", port: 80, state: .healthy)])
        let signed = SignedDigest(signing: digest, with: keyC1)
        _ = a.onLocalDigest(signed, now: start, rng: &rng)
        let out = a.onTick(now: start + .seconds(1), wallClockMillis: wall, rng: &rng)
        let packets = sends(out)
        XCTAssertFalse(packets.isEmpty)
        for (i, p) in packets.enumerated() where !packets[..<i].contains(where: { $0.to == p.to }) {
            XCTAssertTrue(p.messages.contains(.digest(signed)), "every member's first gossip datagram carries the pending digest")
        }
        for p in packets {
            let size = WireEncoding.encodePacket(p.messages).readableBytes
            XCTAssertLessThanOrEqual(size, WireEncoding.datagramBudget)
        }
        for case .send(let messages, _, let bytes) in out {
            XCTAssertEqual(bytes, WireEncoding.encodePacket(messages).readableBytes, "the size estimate is exact")
        }
    }

    func testAGossipRoundPushesABacklogInSeveralDatagramsEachUpdateOnceAMember() {
        var a = makeCore("a", at: 1)
        // News of forty members waits: more than one datagram holds, less than a round's burst to one member.
        hearOfJoins(40, into: &a)
        let settings = GossipSettings()
        let out = a.onTick(now: start + .seconds(1), wallClockMillis: wall, rng: &rng)
        // The round's datagrams (a probe went out in the same tick, with what fitted beside it).
        let pushes = sends(out).filter { !$0.messages.contains { if case .ping = $0 { return true } else { return false } } }
        let byPeer = Dictionary(grouping: pushes, by: \.to)
        XCTAssertEqual(byPeer.count, settings.gossipFanout)
        for (peer, datagrams) in byPeer {
            XCTAssertGreaterThan(datagrams.count, 1, "the backlog does not fit one datagram")
            XCTAssertLessThanOrEqual(datagrams.count, settings.gossipBurst)
            for d in datagrams {
                XCTAssertLessThanOrEqual(WireEncoding.encodePacket(d.messages).readableBytes, WireEncoding.datagramBudget)
            }
            let news = datagrams.flatMap(\.messages).compactMap { if case .member(let r) = $0 { return r.record.identity.name } else { return nil } }
            XCTAssertEqual(news.count, Set(news).count, "an update went twice to \(peer) in one round")
            XCTAssertEqual(Set(news), Set((0..<40).map { "m\($0)" }), "the whole backlog reaches each member of the round")
        }
        for case .send(let messages, _, let bytes) in out {
            XCTAssertEqual(bytes, WireEncoding.encodePacket(messages).readableBytes, "the size estimate is exact")
        }
    }

    func testStateSyncSendsOnlyWhatThePeerLacks() {
        var a = makeCore("a", at: 1)
        var b = makeCore("b", at: 2)
        _ = a.join(seeds: [], now: start, wallClockMillis: wall, rng: &rng)
        let d = SignedDigest(signing: HealthDigest(origin: a.identity, incarnation: 0, version: 3, issuedAtMillis: wall, endpoints: []), with: keyC1)
        _ = a.onLocalDigest(d, now: start, rng: &rng)
        let request = b.stateSyncRequest()
        let (reply, _) = a.onStateSync(request, from: address(2), now: start, wallClockMillis: wall, rng: &rng)
        XCTAssertTrue(reply.contains(.digest(d)))
        XCTAssertTrue(reply.contains(.member(a.ownRecord)))
        let (final, _) = b.onStateSync(reply, from: address(1), now: start, wallClockMillis: wall, rng: &rng)
        XCTAssertEqual(b.digest(from: "a"), d)
        XCTAssertEqual(b.member(named: "a")?.state, .alive)
        XCTAssertTrue(final.isEmpty, "a already has everything b holds")
        // A second exchange sends no records at all.
        let (again, _) = a.onStateSync(b.stateSyncRequest(), from: address(2), now: start, wallClockMillis: wall, rng: &rng)
        XCTAssertEqual(again.count, 1, "only the summary: \(again)")
    }

    /// A digest that a state sync brings is reported as missed by gossip only when gossip should have brought it by
    /// then: it fits a datagram, it was issued after this member's first sync, and gossip's spread time has passed.
    func testADigestThatOnlyAStateSyncBroughtIsReportedSoWhenGossipShouldHaveBroughtIt() {
        let a = makeCore("a", at: 1)
        func digest(version: UInt64, endpoints: Int = 2, issuedAt: UInt64) -> SignedDigest {
            let health = (0..<endpoints).map {
                EndpointHealth(service: "service-with-a-long-name-\($0)", host: "10.0.\($0 / 250).\($0 % 250)", port: 8080, state: .healthy)
            }
            return SignedDigest(signing: HealthDigest(origin: a.identity, incarnation: 0, version: version, issuedAtMillis: issuedAt,
                                                      endpoints: health), with: keyC1)
        }
        func missed(_ out: [GossipDirective]) -> [Bool] {
            out.compactMap { if case .digestAccepted(_, let missed) = $0 { return missed } else { return nil } }
        }
        let later: UInt64 = 20_000   // well past gossip's spread (tenths of a second here)
        var b = makeCore("b", at: 2)
        // The first sync is the join's catch-up: what it brings was issued before b could hear it.
        let (_, joined) = b.onStateSync([.member(a.ownRecord), .digest(digest(version: 1, issuedAt: wall - 5_000))],
                                        from: address(1), now: start, wallClockMillis: wall, rng: &rng)
        XCTAssertEqual(missed(joined), [false])
        func sync(_ d: SignedDigest, at millis: UInt64) -> [Bool] {
            missed(b.onStateSync([.digest(d)], from: address(1), now: start, wallClockMillis: millis, rng: &rng).directives)
        }
        XCTAssertEqual(sync(digest(version: 2, issuedAt: wall + later), at: wall + later + 50), [false],
                       "a sync landing while gossip is still on its way is a race")
        XCTAssertEqual(sync(digest(version: 3, issuedAt: wall + later), at: wall + 2 * later), [true])
        let large = digest(version: 4, endpoints: 60, issuedAt: wall + 2 * later)
        XCTAssertGreaterThan(WireEncoding.encodedSize(of: .digest(large)), WireEncoding.datagramBudget)
        XCTAssertEqual(sync(large, at: wall + 3 * later), [false], "a digest too large for a datagram travels by state sync alone")
        var c = makeCore("c", at: 3)
        _ = c.onStateSync([.member(a.ownRecord)], from: address(1), now: start, wallClockMillis: wall, rng: &rng)
        let gossiped = c.onPacket([.digest(digest(version: 5, issuedAt: wall + later))], from: address(1), now: start,
                                  wallClockMillis: wall + 2 * later, rng: &rng)
        XCTAssertEqual(missed(gossiped), [false])
    }
}

extension CoreTests {
    func testJoinSyncsWithAFewOfManySeeds() {
        var a = makeCore("a", at: 1)
        let seeds = (2..<50).map { address(UInt32($0)) } + [address(1)]
        let out = a.join(seeds: seeds, now: start, wallClockMillis: wall, rng: &rng)
        let syncs = out.compactMap { if case .startStateSync(let p) = $0 { return p } else { return nil } }
        XCTAssertEqual(syncs.count, 3)
        XCTAssertFalse(syncs.contains(address(1)), "never itself")
    }
}

extension CoreTests {
    /// The syncs a member opens between `from` and `to`, ticking it every 10 ms as a shell would.
    private func seedSyncs(of core: inout GossipCore, from: Duration, to: Duration) -> [(at: Duration, seed: PeerAddress)] {
        var opened: [(Duration, PeerAddress)] = []
        var t = from
        while t <= to {
            for case .startStateSync(let peer) in core.onTick(now: start + t, wallClockMillis: wall, rng: &rng) {
                opened.append((t, peer))
            }
            t += .milliseconds(10)
        }
        return opened
    }

    func testAJoinerWhoseSeedsDoNotAnswerTriesEverySeedWithinAFewPeriods() {
        var a = makeCore("a", at: 1)
        let seeds = (2..<10).map { address(UInt32($0)) }
        let first = a.join(seeds: seeds, now: start, wallClockMillis: wall, rng: &rng)
            .compactMap { if case .startStateSync(let p) = $0 { return p } else { return nil } }
        XCTAssertEqual(first.count, 3)
        // None of them answers: the other five seeds follow, one a probe period, before any seed is asked twice.
        let interval = a.settings.probeInterval
        let more = seedSyncs(of: &a, from: .milliseconds(10), to: interval * 5)
        XCTAssertEqual(Set(first + more.map(\.seed)), Set(seeds), "every seed tried in the first pass")
        XCTAssertEqual(first.count + more.count, seeds.count, "none twice: \(more)")
        // After the first pass, a lonely member asks its seeds no faster than it probes dead members.
        let later = seedSyncs(of: &a, from: interval * 5 + .milliseconds(10), to: interval * 5 + a.settings.deadProbeInterval * 4)
        XCTAssertGreaterThanOrEqual(later.count, 3)
        XCTAssertLessThanOrEqual(later.count, 5)
        for (earlier, next) in zip(later, later.dropFirst()) {
            XCTAssertGreaterThanOrEqual(next.at - earlier.at, a.settings.deadProbeInterval)
        }
    }

    func testAMemberThatKnowsOthersDoesNotKeepCallingItsSeeds() {
        var a = makeCore("a", at: 1)
        var b = makeCore("b", at: 2)
        _ = a.join(seeds: [address(2), address(3)], now: start, wallClockMillis: wall, rng: &rng)
        _ = b.join(seeds: [], now: start, wallClockMillis: wall, rng: &rng)
        _ = a.onStateSync(b.stateSyncRequest(), from: address(2), now: start + .milliseconds(2), wallClockMillis: wall, rng: &rng)
        XCTAssertEqual(a.activeMemberCount, 1)
        // a and b talk over a perfect link for ten seconds; a opens only its periodic syncs (the early catch-up
        // sync, and at most one more), never a seed sync per period.
        var opened = 0
        var inFlight: [(to: PeerAddress, messages: [GossipMessage], from: PeerAddress)] = []
        func route(_ directives: [GossipDirective], from: PeerAddress) {
            for directive in directives {
                switch directive {
                case .send(let messages, let to, _): inFlight.append((to, messages, from))
                case .startStateSync: if from == address(1) { opened += 1 }
                default: break
                }
            }
        }
        var t: Duration = .milliseconds(10)
        while t <= .seconds(10) {
            let now = start + t
            route(a.onTick(now: now, wallClockMillis: wall, rng: &rng), from: address(1))
            route(b.onTick(now: now, wallClockMillis: wall, rng: &rng), from: address(2))
            while !inFlight.isEmpty {
                let packet = inFlight.removeFirst()
                if packet.to == address(1) {
                    route(a.onPacket(packet.messages, from: packet.from, now: now, wallClockMillis: wall, rng: &rng), from: address(1))
                } else if packet.to == address(2) {
                    route(b.onPacket(packet.messages, from: packet.from, now: now, wallClockMillis: wall, rng: &rng), from: address(2))
                }
            }
            t += .milliseconds(10)
        }
        XCTAssertEqual(a.member(named: "b")?.state, .alive)
        XCTAssertLessThanOrEqual(opened, 2)
    }
}

extension CoreTests {
    func testAFailedProbeSearchesTheSuspectsClusterAtOnceBesideTheRoundRobin() {
        var a = makeCore("a", at: 1)
        // Three members of c2, silent (a zone gone), and three of c1 that answer: any three helpers include one.
        let c2 = (2...4).map { makeCore("b\($0)", cluster: "c2", at: UInt32($0)) }
        let c1 = (5...7).map { makeCore("x\($0)", at: UInt32($0)) }
        let answering = Set(c1.map(\.address))
        _ = a.join(seeds: [], now: start, wallClockMillis: wall, rng: &rng)
        for peer in c2 + c1 {
            _ = a.onStateSync(peer.stateSyncRequest(), from: peer.address, now: start, wallClockMillis: wall, rng: &rng)
        }
        XCTAssertEqual(a.activeMemberCount, 6)
        var pings: [(at: Duration, target: String)] = []
        var firstSuspicion: (at: Duration, name: String)?
        var t: Duration = .zero
        while t < .seconds(3), firstSuspicion == nil {
            t += .milliseconds(5)
            var directives = a.onTick(now: start + t, wallClockMillis: wall, rng: &rng)
            while !directives.isEmpty {
                var next: [GossipDirective] = []
                for directive in directives {
                    if case .memberChanged(let m, _) = directive, m.state == .suspect, firstSuspicion == nil { firstSuspicion = (t, m.name) }
                    guard case .send(let messages, let to, _) = directive else { continue }
                    // Asked to probe a silent member for a, c1 says it got no answer either (Lifeguard's nack).
                    for case .pingRequest(let request) in messages where answering.contains(to) {
                        next += a.onPacket([.nack(Nack(sequence: request.sequence, source: "?"))], from: to, now: start + t,
                                           wallClockMillis: wall, rng: &rng)
                    }
                    for case .ping(let ping) in messages {
                        pings.append((t, ping.target))
                        if answering.contains(to) {
                            next += a.onPacket([.ack(Ack(sequence: ping.sequence, source: ping.target))], from: to, now: start + t,
                                               wallClockMillis: wall, rng: &rng)
                        }
                    }
                }
                directives = next
            }
        }
        guard let suspicion = firstSuspicion else { return XCTFail("no member of c2 was ever suspected") }
        XCTAssertTrue(suspicion.name.hasPrefix("b"))
        // At that moment a pings up to three (its indirectChecks) more of the suspect's siblings: the rest of c2.
        let now = pings.filter { $0.at == suspicion.at }.map(\.target)
        XCTAssertEqual(Set(now.filter { $0.hasPrefix("b") }), Set(c2.map(\.identity.name)).subtracting([suspicion.name]), "\(pings)")
        // The round robin is not held up by the searches: the failed probe was its own, so its next one is due
        // at the same instant, and goes to a member not being searched.
        XCTAssertEqual(now.filter { $0.hasPrefix("x") }.count, 1, "\(pings)")
    }
}

extension CoreTests {
    private func pings(in directives: [GossipDirective]) -> [Ping] {
        sends(directives).flatMap { $0.messages.compactMap { if case .ping(let p) = $0 { return p } else { return nil } } }
    }

    func testSearchesStartedInOnePeriodAreBounded() {
        var a = makeCore("a", at: 1)
        let c2 = (0..<10).map { makeCore("b\($0)", cluster: "c2", at: UInt32(10 + $0)) }
        _ = a.join(seeds: [], now: start, wallClockMillis: wall, rng: &rng)
        for peer in c2 {
            _ = a.onStateSync(peer.stateSyncRequest(), from: peer.address, now: start, wallClockMillis: wall, rng: &rng)
        }
        // Eight suspicions heard at once (heavy loss, or a zone going): each would search a sibling.
        let accusations = c2.prefix(8).map {
            GossipMessage.accusation(Accusation(kind: .suspect, target: $0.identity.name, generation: 1, incarnation: 0, accuser: "z"))
        }
        let heard = a.onPacket(Array(accusations), from: address(99), now: start + .milliseconds(1), wallClockMillis: wall, rng: &rng)
        let searched = pings(in: heard)
        XCTAssertEqual(searched.count, GossipCore.maxSearches, "\(searched)")
        XCTAssertTrue(searched.allSatisfy { $0.target.hasPrefix("b") }, "siblings of the suspects")
    }

    func testNewSeedAddressesGetAFreshPassAtTheProbeRate() {
        var a = makeCore("a", at: 1)
        _ = a.join(seeds: (2..<5).map { address(UInt32($0)) }, now: start, wallClockMillis: wall, rng: &rng)
        // The first pass is over (three seeds, all at join) and none answered: the second goes at the slow rate.
        let slow = seedSyncs(of: &a, from: .milliseconds(10), to: .seconds(2))
        XCTAssertLessThanOrEqual(slow.count, 2, "\(slow)")
        // The Service's pods were replaced: the new addresses are tried at once, one a probe period.
        let fresh = (20..<24).map { address(UInt32($0)) }
        a.setSeeds(fresh)
        let after = seedSyncs(of: &a, from: .seconds(2) + .milliseconds(10), to: .seconds(2) + a.settings.probeInterval * 4)
        XCTAssertEqual(Set(after.map(\.seed)), Set(fresh), "\(after)")
    }
}
