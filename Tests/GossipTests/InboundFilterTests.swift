import MeshCrypto
import NIOCore
import NIOEmbedded
import Wire
import XCTest
@testable import GossipNIO

/// The inbound filter on an embedded channel: time moves only by `advanceTime(by:)`.
final class InboundFilterTests: XCTestCase {
    let ring = Keyring(primary: try! MeshKey(bytes: [UInt8](repeating: 7, count: 32)), meshName: "test")

    func makeChannel(keyring: Keyring?, rate: Int = 10, burst: Int = 20, sources: Int = 8) throws -> (EmbeddedChannel, InboundFilter, InboundFilterStats) {
        var transport = GossipTransportSettings(bindHost: "127.0.0.1", bindPort: 0, keyring: keyring)
        transport.sourceRatePerSecond = rate
        transport.sourceBurst = burst
        transport.sourceTableSize = sources
        let stats = InboundFilterStats()
        let filter = InboundFilter(policy: InboundFilterPolicy(transport: transport), stats: stats)
        let channel = EmbeddedChannel(handler: filter)
        return (channel, filter, stats)
    }

    func datagram(_ bytes: [UInt8], from host: String = "127.0.0.9", port: Int = 7000) throws -> AddressedEnvelope<ByteBuffer> {
        AddressedEnvelope(remoteAddress: try SocketAddress(ipAddress: host, port: port), data: ByteBuffer(bytes: bytes))
    }

    var sealedPing: [UInt8] {
        let packet = WireEncoding.encodePacket([.ping(Ping(sequence: 1, source: "a", target: "b", targetGeneration: 1))])
        return ring.seal(Array(packet.readableBytesView), sentAtMillis: 1_764_000_000_000)
    }

    /// Writes `d`, and says whether it came out the other side.
    func passes(_ channel: EmbeddedChannel, _ d: AddressedEnvelope<ByteBuffer>) throws -> Bool {
        try channel.writeInbound(d)
        return try channel.readInbound(as: AddressedEnvelope<ByteBuffer>.self) != nil
    }

    func testSizeAndSealVersionAreCheckedFirst() throws {
        let (channel, _, stats) = try makeChannel(keyring: ring)
        XCTAssertTrue(try passes(channel, datagram(sealedPing)))
        XCTAssertFalse(try passes(channel, datagram(Array(sealedPing.prefix(Keyring.overhead + 3)))), "shorter than any sealed packet")
        XCTAssertFalse(try passes(channel, datagram([UInt8](repeating: Keyring.sealVersion, count: 70_000))), "longer than any datagram")
        var old = sealedPing
        old[0] = 1
        XCTAssertFalse(try passes(channel, datagram(old)), "seal version 1 carries no timestamp")
        let random = (0..<150).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        XCTAssertFalse(try passes(channel, datagram(random)), "random bytes")
        channel.pipeline.fireChannelReadComplete()
        let counts = stats.snapshot()
        XCTAssertEqual(counts.seen, 5)
        XCTAssertEqual(counts.passed, 1)
        XCTAssertEqual(counts.dropped, ["too_short": 1, "too_large": 1, "bad_prefix": 2])
        XCTAssertEqual(counts.shed, 0, "junk is not load shed")
    }

    func testWithoutAMeshKeyTheWireMagicIsChecked() throws {
        let (channel, _, _) = try makeChannel(keyring: nil)
        let packet = Array(WireEncoding.encodePacket([.ping(Ping(sequence: 1, source: "a", target: "b", targetGeneration: 1))]).readableBytesView)
        XCTAssertTrue(try passes(channel, datagram(packet)))
        XCTAssertFalse(try passes(channel, datagram(sealedPing)))
        XCTAssertFalse(try passes(channel, datagram([0x5A, 0x41])))
    }

    func testEachSourceHasItsOwnBudgetThatRefills() throws {
        let (channel, _, stats) = try makeChannel(keyring: ring, rate: 10, burst: 20)
        let loop = channel.embeddedEventLoop
        // A burst of 20 passes, the 21st does not; another source is not affected.
        for i in 0..<20 { XCTAssertTrue(try passes(channel, datagram(sealedPing, port: 7000 + i)), "datagram \(i)") }
        XCTAssertFalse(try passes(channel, datagram(sealedPing, port: 9999)), "same address, another port: the same budget")
        XCTAssertTrue(try passes(channel, datagram(sealedPing, from: "127.0.0.10")))
        // 10 a second: after 0.5 s five more pass.
        loop.advanceTime(by: .milliseconds(500))
        var passed = 0
        for _ in 0..<20 {
            if try passes(channel, datagram(sealedPing)) { passed += 1 }
        }
        XCTAssertEqual(passed, 5)
        channel.pipeline.fireChannelReadComplete()
        XCTAssertEqual(stats.snapshot().dropped["over_budget"], 16)
        XCTAssertEqual(stats.snapshot().shed, 16)
    }

    func testTheTableStaysBoundedHoweverManySourcesSend() throws {
        let (channel, filter, stats) = try makeChannel(keyring: ring, rate: 10, burst: 20, sources: 8)
        // 2,000 addresses, one datagram each: 8 get a budget of their own, the rest share one of 20.
        var passed = 0
        for i in 0..<2_000 {
            if try passes(channel, datagram(sealedPing, from: "127.1.\(i / 250).\(i % 250 + 1)")) { passed += 1 }
        }
        XCTAssertEqual(filter.trackedSources, 8)
        XCTAssertEqual(passed, 8 + 20)
        channel.pipeline.fireChannelReadComplete()
        XCTAssertEqual(stats.snapshot().dropped["over_shared_budget"], 2_000 - 28)
        // A source already in the table keeps its own budget meanwhile.
        XCTAssertTrue(try passes(channel, datagram(sealedPing, from: "127.1.0.1")))
        // Once the buckets have refilled, the sweep frees the table for new sources.
        channel.embeddedEventLoop.advanceTime(by: .seconds(3))
        XCTAssertTrue(try passes(channel, datagram(sealedPing, from: "127.2.0.1")))
        XCTAssertEqual(filter.trackedSources, 1)
    }
}

final class InboundLanesTests: XCTestCase {
    func testMembersGoFirstAndTheLanesAreBounded() throws {
        let lanes = InboundLanes(capacity: 3)
        let member = try SocketAddress(ipAddress: "127.0.0.2", port: 1)
        let stranger = try SocketAddress(ipAddress: "127.0.0.9", port: 1)
        lanes.trust(member)
        for i in 0..<5 { lanes.push(AddressedEnvelope(remoteAddress: stranger, data: ByteBuffer(bytes: [UInt8(i)]))) }
        lanes.push(AddressedEnvelope(remoteAddress: member, data: ByteBuffer(bytes: [100])))
        XCTAssertEqual(lanes.droppedForBacklog, 2)
        let batch = lanes.drain(limit: 2)
        XCTAssertEqual(batch.map { $0.data.getInteger(at: 0, as: UInt8.self) }, [100, 0], "the member's datagram first")
        XCTAssertEqual(lanes.backlog, 2)
    }
}
