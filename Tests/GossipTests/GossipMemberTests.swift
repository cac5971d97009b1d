import SeededRandom
import XCTest
import Gossip
import MeshCrypto
import Wire

/// The executor every shell shares: the tick rule, the state-sync conversation, directives in order.
final class GossipMemberTests: XCTestCase {
    let key = try! SigningKeyPair(seed: [UInt8](repeating: 1, count: 32))
    var roster: TrustRoster { TrustRoster(["c1": [key.publicKey]]) }
    let start = ContinuousClock.now
    let wall: UInt64 = 1_800_000_000_000

    /// A shell that writes down what it is asked to do.
    struct RecordingShell: GossipShell {
        var sent: [(messages: [GossipMessage], to: PeerAddress)] = []
        var opened: [(conversation: StateSyncConversation, request: [GossipMessage])] = []
        var wakes: [ContinuousClock.Instant] = []
        var events: [GossipEvent] = []

        mutating func send(_ messages: [GossipMessage], bytes: Int, to peer: PeerAddress) { sent.append((messages, peer)) }
        mutating func openStateSync(_ conversation: StateSyncConversation, request: [GossipMessage]) { opened.append((conversation, request)) }
        mutating func wake(at instant: ContinuousClock.Instant) { wakes.append(instant) }
        mutating func observe(_ event: GossipEvent) { events.append(event) }
    }

    func address(_ i: UInt32) -> PeerAddress { PeerAddress(host: .v4(0x7F00_0000 | i), port: 7946) }

    func member(_ name: String, at i: UInt32, seed: UInt64 = 1) -> GossipMember<SplitMix64> {
        let core = GossipCore(identity: MemberIdentity(name: name, cluster: "c1", generation: 1), address: address(i),
                              signer: key, verifier: RecordVerifier(roster: roster))
        return GossipMember(core: core, rng: SplitMix64(seed: seed))
    }

    func testOnlyAnEarlierTickWakesTheShellAndATickRunsOnlyWhenDue() throws {
        var a = member("a", at: 1)
        var shell = RecordingShell()
        a.join(seeds: [], now: start, wallClockMillis: wall, shell: &shell)
        let due = try XCTUnwrap(a.nextTick, "a started member asks for a tick")
        XCTAssertEqual(shell.wakes, [due])
        // Asking again for the same tick or a later one wakes no one; an earlier one does.
        a.execute([.scheduleTick(at: due), .scheduleTick(at: due + .seconds(1))], shell: &shell)
        XCTAssertEqual(shell.wakes, [due])
        let earlier = due - .milliseconds(1)
        a.execute([.scheduleTick(at: earlier)], shell: &shell)
        XCTAssertEqual(shell.wakes, [due, earlier])
        XCTAssertEqual(a.nextTick, earlier)
        // Not due: nothing runs.
        XCTAssertFalse(a.tickIfDue(now: earlier - .nanoseconds(1), wallClockMillis: wall, shell: &shell))
        XCTAssertEqual(a.nextTick, earlier)
        // Due: it runs, and the core's next request is a new wake.
        XCTAssertTrue(a.tickIfDue(now: earlier, wallClockMillis: wall, shell: &shell))
        let next = try XCTUnwrap(a.nextTick)
        XCTAssertGreaterThan(next, earlier)
        XCTAssertEqual(shell.wakes.last, next)
    }

    func testAnOverdueTickIsKeptUntilItRuns() throws {
        // A paused member's tick passes unrun; a later request must not push it back: the overdue tick runs first.
        var a = member("a", at: 1)
        var shell = RecordingShell()
        a.join(seeds: [], now: start, wallClockMillis: wall, shell: &shell)
        let due = try XCTUnwrap(a.nextTick)
        a.execute([.scheduleTick(at: due + .seconds(5))], shell: &shell)
        XCTAssertEqual(a.nextTick, due)
        XCTAssertTrue(a.tickIfDue(now: due + .seconds(3), wallClockMillis: wall, shell: &shell))
    }

    func testAStateSyncTakesThreeStepsAndNothingAfter() throws {
        var a = member("a", at: 1, seed: 1)
        var b = member("b", at: 2, seed: 2)
        var shellA = RecordingShell()
        var shellB = RecordingShell()
        a.join(seeds: [address(2)], now: start, wallClockMillis: wall, shell: &shellA)
        b.join(seeds: [], now: start, wallClockMillis: wall, shell: &shellB)
        let opened = try XCTUnwrap(shellA.opened.first, "joining through a seed opens a state sync with it")
        var opener = opened.conversation
        XCTAssertEqual(opener.peer, address(2))
        XCTAssertEqual(opener.step, .awaitingReply)
        XCTAssertTrue(opener.isOpener)

        var responder = StateSyncConversation(answering: address(1))
        let (acceptedRequest, reply) = b.continueStateSync(&responder, with: opened.request, now: start, wallClockMillis: wall, shell: &shellB)
        XCTAssertTrue(acceptedRequest)
        XCTAssertFalse(reply.isEmpty, "a request is always answered with a summary")
        XCTAssertEqual(responder.step, .awaitingFinal)
        XCTAssertTrue(responder.hasAnswered)
        XCTAssertEqual(b.core.member(named: "a")?.state, .alive, "the request carries the opener's own record")

        let (acceptedReply, final) = a.continueStateSync(&opener, with: reply, now: start, wallClockMillis: wall, shell: &shellA)
        XCTAssertTrue(acceptedReply)
        XCTAssertEqual(opener.step, .finished)
        XCTAssertEqual(a.core.member(named: "b")?.state, .alive)

        let (acceptedFinal, answer) = b.continueStateSync(&responder, with: final, now: start, wallClockMillis: wall, shell: &shellB)
        XCTAssertTrue(acceptedFinal)
        XCTAssertTrue(answer.isEmpty, "the final is the last word")
        XCTAssertEqual(responder.step, .finished)

        // Anything more is out of turn: refused, and not merged.
        let c = member("c", at: 3).core.ownRecord
        let (acceptedMore, more) = b.continueStateSync(&responder, with: [.member(c)], now: start, wallClockMillis: wall, shell: &shellB)
        XCTAssertFalse(acceptedMore)
        XCTAssertTrue(more.isEmpty)
        XCTAssertNil(b.core.member(named: "c"), "a message after the conversation ended was merged")
    }

    func testDirectivesReachTheShellInOrder() {
        var a = member("a", at: 1)
        var shell = RecordingShell()
        let snapshot = MemberSnapshot(identity: MemberIdentity(name: "b", cluster: "c1", generation: 1), address: address(2),
                                      state: .alive, incarnation: 0)
        let ping = GossipMessage.ping(Ping(sequence: 1, source: "a", target: "b", targetGeneration: 1))
        a.execute([.memberChanged(snapshot, previous: nil), .send([ping], to: address(2), bytes: 20), .startStateSync(with: address(2))],
                  shell: &shell)
        XCTAssertEqual(shell.events, [.memberChanged(snapshot, previous: nil)])
        XCTAssertEqual(shell.sent.map(\.to), [address(2)])
        XCTAssertEqual(shell.opened.map(\.conversation.peer), [address(2)])
        XCTAssertEqual(shell.opened.first?.request, a.core.stateSyncRequest())
    }
}
