import Gossip
import GossipSimulation
import MeshCrypto
import Wire
import XCTest

/// Drain orders in the virtual network: one member takes an order, every member comes to hold it; a member that joins
/// or restarts after the gossip has died down learns it by state sync; a forged order goes nowhere.
final class DrainDisseminationTests: XCTestCase {
    private func formedMesh(_ n: Int, seed: UInt64, joining: Int? = nil) -> (SimulatedNetwork, Observations) {
        let net = SimulatedNetwork(count: n, seed: seed)
        let obs = Observations()
        obs.attach(to: net)
        for i in 0..<n where i != joining { net.join(i, seeds: i == 0 ? [] : [SimulatedNetwork.address(of: 0)]) }
        let group = (0..<n).filter { $0 != joining }
        let formed = net.run(until: { net.fullyConverged(among: group) }, limit: .seconds(30))
        XCTAssertNotNil(formed, "the mesh never formed")
        return (net, obs)
    }

    private func order(_ net: SimulatedNetwork, minutes: UInt64 = 30) -> DrainRecord {
        DrainRecord(cluster: "c1", issuedAtMillis: net.wallClockMillis, untilMillis: net.wallClockMillis + minutes * 60_000)
    }

    func testAnOrderGivenToOneMemberReachesEveryMember() {
        let n = 30
        let (net, obs) = formedMesh(n, seed: 5)
        let record = order(net)
        XCTAssertEqual(net.drain(record, at: 3), .accepted)
        let took = net.run(until: { (0..<n).allSatisfy { net.core($0).drains.map(\.drain) == [record] } }, limit: .seconds(10))
        XCTAssertNotNil(took, "not every member holds the order")
        print("a drain order reached all \(n) members in \(took.map { "\($0)" } ?? "-")")
        XCTAssertEqual(Set(obs.drains.map(\.observer)), Set(0..<n), "each member reported it once")
        XCTAssertEqual(obs.drains.count, n)
        // The same order again is no news; an undrain outranks it everywhere.
        XCTAssertEqual(net.drain(record, at: 7), .superseded)
        let undrain = DrainRecord(cluster: "c1", issuedAtMillis: net.wallClockMillis, untilMillis: net.wallClockMillis)
        XCTAssertEqual(net.drain(undrain, at: 9), .accepted)
        XCTAssertNotNil(net.run(until: { (0..<n).allSatisfy { net.core($0).drains.map(\.drain) == [undrain] } }, limit: .seconds(10)))
        // A replay of the old drain from outside changes nothing.
        net.inject([.drain(SignedDrain(drain: record, keyID: net.operatorSigner.keyID, signature: net.operatorSigner.sign(WireEncoding.signedBytes(of: record))))],
                   to: 1, from: SimulatedNetwork.address(of: 2))
        net.run(for: .seconds(2))
        XCTAssertTrue((0..<n).allSatisfy { net.core($0).drains.map(\.drain) == [undrain] })
    }

    func testAMemberJoiningLateOrRestartingLearnsTheOrderByStateSync() {
        let n = 12
        let late = n - 1
        let (net, _) = formedMesh(n, seed: 9, joining: late)
        let record = order(net)
        XCTAssertEqual(net.drain(record, at: 2), .accepted)
        // Long enough that no datagram carries the order any more: only a state sync can teach it now.
        net.run(for: .seconds(30))
        XCTAssertTrue((0..<late).allSatisfy { net.core($0).drains.map(\.drain) == [record] })
        net.join(late, seeds: [SimulatedNetwork.address(of: 0)])
        XCTAssertNotNil(net.run(until: { net.core(late).drains.map(\.drain) == [record] }, limit: .seconds(5)), "the joiner never learned the order")
        // A restart starts empty and learns it back the same way.
        net.restart(4, seeds: [SimulatedNetwork.address(of: 0)])
        XCTAssertTrue(net.core(4).drains.isEmpty)
        XCTAssertNotNil(net.run(until: { net.core(4).drains.map(\.drain) == [record] }, limit: .seconds(5)), "the restarted member never learned the order")
    }

    func testForgedOrdersAreDroppedAndCounted() {
        let n = 8
        let (net, obs) = formedMesh(n, seed: 3)
        let record = order(net)
        let clusterKey = net.signer(ofCluster: 0)
        let byClusterKey = SignedDrain(drain: record, keyID: clusterKey.keyID, signature: clusterKey.sign(WireEncoding.signedBytes(of: record)))
        XCTAssertEqual(net.drain(byClusterKey, at: 0), .rejected(.untrustedOperator(keyID: clusterKey.keyID)))
        var tampered = SignedDrain(drain: record, keyID: net.operatorSigner.keyID, signature: net.operatorSigner.sign(WireEncoding.signedBytes(of: record)))
        tampered.drain.cluster = "c0"
        net.inject([.drain(tampered)], to: 1, from: SimulatedNetwork.address(of: 2))
        net.run(for: .seconds(3))
        XCTAssertTrue((0..<n).allSatisfy { net.core($0).drains.isEmpty })
        XCTAssertEqual(Set(obs.rejected.map(\.rejection.reason)), ["untrusted_operator", "bad_signature"])
    }
}
