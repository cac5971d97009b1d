import XCTest
import Glibc
import Gossip
import GossipNIO
import Logging
import MeshCrypto
import ServiceLifecycle
import Wire

/// Real sockets on loopback (127.0.0.1 only): several services in one process, each with its own NIO channels.
final class SocketTests: XCTestCase {
    let keys = (0..<2).map { try! SigningKeyPair(seed: [UInt8](repeating: UInt8(10 + $0), count: 32)) }
    var roster: TrustRoster { TrustRoster(["c0": [keys[0].publicKey], "c1": [keys[1].publicKey]]) }

    struct Running {
        let service: GossipService
        let task: Task<Void, Error>
        let port: Int
    }

    func start(_ name: String, index: Int, seeds: [Int] = [], seedHost: String = "127.0.0.1", otherSeeds: [String] = [],
               keyring: Keyring? = nil, profile: GossipProfile = .fast, clock: ManualClock? = nil,
               tune: (inout GossipTransportSettings) -> Void = { _ in }) async -> Running {
        let identity = MemberIdentity(name: name, cluster: "c\(index % 2)", generation: GossipService.freshGeneration())
        var transport = GossipTransportSettings(bindHost: "127.0.0.1", bindPort: 0,
                                                seeds: otherSeeds + seeds.map { "\(seedHost):\($0)" },
                                                keyring: keyring, syncTimeout: .seconds(2), leaveLinger: .milliseconds(200))
        tune(&transport)
        var logger = Logger(label: "test.\(name)")
        logger.logLevel = .error
        let service = if let clock {
            GossipService(settings: GossipSettings(profile: profile), transport: transport, identity: identity,
                          signer: keys[index % 2], verifier: RecordVerifier(roster: roster), logger: logger, clock: clock)
        } else {
            GossipService(settings: GossipSettings(profile: profile), transport: transport, identity: identity,
                          signer: keys[index % 2], verifier: RecordVerifier(roster: roster), logger: logger)
        }
        let task = Task { try await service.run() }
        let port = await service.boundGossipPort()
        return Running(service: service, task: task, port: port)
    }

    func eventually(_ timeout: Duration, _ condition: () async -> Bool) async -> Duration? {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < timeout {
            if await condition() { return ContinuousClock.now - start }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return await condition() ? ContinuousClock.now - start : nil
    }

    func states(_ r: Running) async -> [String: MemberState] {
        Dictionary(uniqueKeysWithValues: await r.service.members().map { ($0.name, $0.state) })
    }

    func testKilledMemberIsDetectedOverRealSockets() async throws {
        var members: [Running] = []
        members.append(await start("s0", index: 0))
        for i in 1..<4 { members.append(await start("s\(i)", index: i, seeds: [members[0].port])) }
        let formed = await eventually(.seconds(5)) {
            for m in members { if await self.states(m).values.filter({ $0 == .alive }).count != 3 { return false } }
            return true
        }
        XCTAssertNotNil(formed, "the mesh never formed")
        // A hard stop: no leave message, the sockets just go quiet.
        members[2].task.cancel()
        let detected = await eventually(.seconds(5)) {
            for m in [members[0], members[1], members[3]] { if await self.states(m)["s2"] != .dead { return false } }
            return true
        }
        XCTAssertNotNil(detected, "the killed member was not declared dead")
        print("real sockets, fast profile: a killed member was dead everywhere after \(detected.map { seconds($0) } ?? -1) s")
        for m in [members[0], members[1], members[3]] { let s = await self.states(m); XCTAssertEqual(s.values.filter { $0 == .dead }.count, 1, "\(s)") }
        for m in members { m.task.cancel() }
    }

    func testJoiningMemberReceivesCurrentDigestsThroughStateSync() async throws {
        let a = await start("j0", index: 0)
        let b = await start("j1", index: 1, seeds: [a.port])
        let big = (0..<120).map { EndpointHealth(service: "gateway-demo/service1", host: "10.1.0.\($0)", port: 8080, state: .healthy) }
        let da = await a.service.publish(digest: HealthDigest(origin: a.service.identity, incarnation: 0, version: 1,
                                                              issuedAtMillis: UInt64(Date().timeIntervalSince1970 * 1000), endpoints: big))
        let db = await b.service.publish(digest: HealthDigest(origin: b.service.identity, incarnation: 0, version: 1,
                                                              issuedAtMillis: UInt64(Date().timeIntervalSince1970 * 1000), endpoints: Array(big.prefix(2))))
        let spread = await eventually(.seconds(5)) {
            let x = await a.service.digests().count
            let y = await b.service.digests().count
            return x == 2 && y == 2
        }
        XCTAssertNotNil(spread)
        let joiner = await start("j2", index: 0, seeds: [b.port])
        let caughtUp = await eventually(.seconds(3)) { Set(await joiner.service.digests()) == Set([da, db].compactMap { $0 }) }
        XCTAssertNotNil(caughtUp, "the joiner did not receive the digests")
        // The sync is counted once its connection is closed, a moment after its records were merged.
        let counted = await eventually(.seconds(2)) { await joiner.service.currentCounters().syncsCompleted >= 1 }
        XCTAssertNotNil(counted, "the joiner's state sync was not counted as completed")
        print("a joiner held both digests (one of \(WireEncoding.encodedSize(of: .digest(da!))) bytes, larger than a datagram) after \(caughtUp.map { seconds($0) } ?? -1) s")
        for m in [a, b, joiner] { m.task.cancel() }
    }

    func testSealedMeshKeepsOutAMemberWithAnotherKey() async throws {
        let key = try MeshKey(bytes: [UInt8](repeating: 7, count: 32))
        let other = try MeshKey(bytes: [UInt8](repeating: 8, count: 32))
        let a = await start("k0", index: 0, keyring: Keyring(primary: key, meshName: "test"))
        let b = await start("k1", index: 1, seeds: [a.port], keyring: Keyring(primary: key, meshName: "test"))
        let stranger = await start("k2", index: 0, seeds: [a.port], keyring: Keyring(primary: other, meshName: "test"))
        let formed = await eventually(.seconds(5)) {
            let x = await self.states(a)["k1"]
            let y = await self.states(b)["k0"]
            return x == .alive && y == .alive
        }
        XCTAssertNotNil(formed)
        // The stranger keeps trying to join through `a`: once `a` has refused three of its attempts, it has had its
        // chances, and what is asserted below is an outcome rather than a race.
        let refused = await eventually(.seconds(5)) { await a.service.currentCounters().dropped["open_failed", default: 0] >= 3 }
        XCTAssertNotNil(refused, "the stranger's frames are counted as dropped")
        let seenByA = await states(a)["k2"]
        XCTAssertNil(seenByA)
        let strangerView = await stranger.service.members()
        XCTAssertTrue(strangerView.isEmpty)
        for m in [a, b, stranger] { m.task.cancel() }
    }

    func testTimersRunOnTheInjectedClock() async throws {
        // Two members over real sockets on one clock that only the test moves: the sockets carry packets at once,
        // but probes, timeouts and suspicions wait for virtual time, so a killed member is declared dead after the
        // virtual time the protocol needs, however slow the machine.
        let clock = ManualClock()
        let a = await start("v0", index: 0, clock: clock)
        let b = await start("v1", index: 1, seeds: [a.port], clock: clock)
        defer { a.task.cancel() }
        // Joining is a state sync over TCP, which needs no timer.
        let formed = await eventually(.seconds(5)) {
            let x = await self.states(a)["v1"]
            let y = await self.states(b)["v0"]
            return x == .alive && y == .alive
        }
        XCTAssertNotNil(formed, "the members never met")
        b.task.cancel()
        _ = await b.task.result
        let settings = GossipSettings(profile: .fast)
        let step = settings.probeInterval / 4
        var moved = Duration.zero
        var dead = false
        // At most a minute of virtual time, each step once `a` is parked on the clock again (its tick done).
        while !dead, moved < .seconds(60) {
            clock.advance(by: step)
            moved += step
            _ = await eventually(.seconds(2)) { clock.sleeperCount > 0 }
            dead = await states(a)["v1"] == .dead
        }
        XCTAssertTrue(dead, "the killed member was not declared dead after \(moved) of virtual time")
        XCTAssertGreaterThanOrEqual(moved, settings.probeTimeout, "declared dead before a probe could time out")
        print("injected clock, fast profile: a killed member was declared dead after \(seconds(moved)) s of virtual time")
    }

    func testAMemberWithAnotherKeySaysSoAndTheMeshNamesIt() async throws {
        let key = try MeshKey(bytes: [UInt8](repeating: 7, count: 32))
        let other = try MeshKey(bytes: [UInt8](repeating: 8, count: 32))
        let quick: (inout GossipTransportSettings) -> Void = { $0.keyProblemAfter = .seconds(1) }
        let a = await start("w0", index: 0, keyring: Keyring(primary: key, meshName: "test"), tune: quick)
        let b = await start("w1", index: 1, seeds: [a.port], keyring: Keyring(primary: key, meshName: "test"), tune: quick)
        // The stranger on an address of its own, so that the mesh's table can be checked for it.
        let stranger = await start("w2", index: 0, seeds: [a.port], keyring: Keyring(primary: other, meshName: "test")) {
            $0.keyProblemAfter = .seconds(1)
            $0.bindHost = "127.0.0.5"
        }
        defer { for m in [a, b, stranger] { m.task.cancel() } }
        let reported = await eventually(.seconds(5)) { await stranger.service.transportProblem() != nil }
        XCTAssertNotNil(reported, "the member with another key stayed silent about it")
        let problem = await stranger.service.transportProblem() ?? ""
        XCTAssertTrue(problem.contains("mesh"), problem)
        print("the member with another key reports after \(reported.map { seconds($0) } ?? -1) s: \(problem)")
        let named = await eventually(.seconds(3)) { await a.service.undecryptableSources().contains { $0.address.hostText == "127.0.0.5" } }
        let sources = await a.service.undecryptableSources()
        XCTAssertNotNil(named, "the mesh does not name the stranger's address: \(sources)")
        let aProblem = await a.service.transportProblem()
        let bProblem = await b.service.transportProblem()
        XCTAssertNil(aProblem)
        XCTAssertNil(bProblem)
    }

    func testAReplayedDatagramIsAnsweredOnce() async throws {
        let ring = Keyring(primary: try MeshKey(bytes: [UInt8](repeating: 7, count: 32)), meshName: "test")
        let a = await start("r0", index: 0, keyring: ring)
        defer { a.task.cancel() }
        let ping = WireEncoding.encodePacket([.ping(Ping(sequence: 1, source: "", target: "", targetGeneration: 0))])
        let sealed = ring.seal(Array(ping.readableBytesView), sentAtMillis: GossipService.wallClockMillis())
        let fd = LoopbackSockets.bound(SOCK_DGRAM, host: "127.0.0.1")
        defer { close(fd) }
        XCTAssertTrue(LoopbackSockets.connect(fd, to: "127.0.0.1", a.port))
        for _ in 0..<3 { _ = sealed.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) } }
        LoopbackSockets.setReceiveTimeout(fd, milliseconds: 100)
        var answers = 0
        var buffer = [UInt8](repeating: 0, count: 2048)
        for _ in 0..<10 where buffer.withUnsafeMutableBytes({ recv(fd, $0.baseAddress, $0.count, 0) }) > 0 { answers += 1 }
        XCTAssertEqual(answers, 1, "a captured datagram sent three times was answered \(answers) times")
        let replayed = await a.service.currentCounters().dropped["replayed", default: 0]
        XCTAssertEqual(replayed, 2)
    }

    func testJoinsThroughASeedGivenByName() async throws {
        // `localhost` may also resolve to ::1; a socket bound to 127.0.0.1 keeps only the IPv4 answers.
        let a = await start("d0", index: 0)
        let b = await start("d1", index: 1, seeds: [a.port], seedHost: "localhost")
        let joined = await eventually(.seconds(5)) {
            let x = await self.states(a)["d1"]
            let y = await self.states(b)["d0"]
            return x == .alive && y == .alive
        }
        XCTAssertNotNil(joined)
        for m in [a, b] { m.task.cancel() }
    }

    func testJoinsWhenMostSeedsAreDown() async throws {
        // Five seeds where nothing listens (other loopback addresses: connections are refused) and one live one,
        // as a headless Service lists pods that are gone. Joining tries three, then one more each probe period.
        let a = await start("h0", index: 0, profile: .lan)
        let down = (2...6).map { "127.0.0.\($0):\(a.port)" }
        let b = await start("h1", index: 1, seeds: [a.port], otherSeeds: down, profile: .lan)
        let joined = await eventually(.seconds(4)) {
            let x = await self.states(a)["h1"]
            let y = await self.states(b)["h0"]
            return x == .alive && y == .alive
        }
        XCTAssertNotNil(joined, "a first pass over six seeds at 500 ms takes 1.5 s")
        print("joined through 1 live seed of 6 after \(joined.map { seconds($0) } ?? -1) s")
        for m in [a, b] { m.task.cancel() }
    }

    func testGracefulShutdownLeavesTheMesh() async throws {
        let a = await start("g0", index: 0)
        let identity = MemberIdentity(name: "g1", cluster: "c1", generation: GossipService.freshGeneration())
        var logger = Logger(label: "test.g1")
        logger.logLevel = .error
        let service = GossipService(settings: GossipSettings(profile: .fast),
                                    transport: GossipTransportSettings(bindHost: "127.0.0.1", bindPort: 0, seeds: ["127.0.0.1:\(a.port)"]),
                                    identity: identity, signer: keys[1], verifier: RecordVerifier(roster: roster), logger: logger)
        let group = ServiceGroup(configuration: .init(services: [service], logger: logger))
        let task = Task { try await group.run() }
        let joined = await eventually(.seconds(5)) { await self.states(a)["g1"] == .alive }
        XCTAssertNotNil(joined)
        await group.triggerGracefulShutdown()
        try await task.value
        let left = await eventually(.seconds(2)) { await self.states(a)["g1"] == .left }
        XCTAssertNotNil(left, "the member did not announce its departure")
        a.task.cancel()
    }
}

import Foundation

final class TransportSettingsTests: XCTestCase {
    func testConfigurationKeysParse() throws {
        let t = try GossipTransportSettings(bind: "127.0.0.1:7001", advertise: "127.0.0.2:7001", join: ["seeds.zone-agent.svc:7001", "127.0.0.1:7002"])
        XCTAssertEqual(t.bindHost, "127.0.0.1")
        XCTAssertEqual(t.bindPort, 7001)
        XCTAssertEqual(t.advertise, PeerAddress("127.0.0.2:7001"))
        XCTAssertEqual(t.seeds.count, 2)
        XCTAssertThrowsError(try GossipTransportSettings(bind: "127.0.0.1"))
        XCTAssertThrowsError(try GossipTransportSettings(bind: "127.0.0.1:7001", advertise: "pod-ip:7001"))
        XCTAssertThrowsError(try GossipTransportSettings(bind: "127.0.0.1:7001", join: ["no-port"]))
    }
}

final class ServiceStartupTests: XCTestCase {
    func testWildcardBindWithoutAdvertiseFailsCleanly() async throws {
        let key = try SigningKeyPair(seed: [UInt8](repeating: 3, count: 32))
        let service = GossipService(
            transport: GossipTransportSettings(bindHost: "0.0.0.0", bindPort: 0),
            identity: MemberIdentity(name: "w", cluster: "c0", generation: 1), signer: key,
            verifier: RecordVerifier(roster: TrustRoster(["c0": [key.publicKey]])))
        do {
            try await service.run()
            XCTFail("a wildcard address cannot be advertised")
        } catch let error as GossipTransportError {
            XCTAssertTrue(error.description.contains("advertise"))
        }
    }
}
