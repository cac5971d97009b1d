import XCTest
import Gossip
@testable import GossipSimulation

/// Members run at once, a window of virtual time at a time (`SimulatedNetwork.workers`): the same seed gives the
/// same run on any number of threads, and the protocol behaves as it does one event at a time.
final class SimulationWindowTests: XCTestCase {
    private func run(workers: Int) -> (bytes: [UInt64], changes: [String]) {
        let net = SimulatedNetwork(count: 60, seed: 5, link: .init(loss: 0.02), clusters: 3, crypto: .checksum, encodePackets: false)
        net.workers = workers
        net.minimumParallelBatch = 1   // threads for every window, however small
        var changes: [String] = []
        net.onEvent = { event in
            guard case .memberChanged(let observer, let member, _, let at) = event else { return }
            changes.append("\(observer) \(member.name) \(member.state) \(at)")
        }
        net.bootstrapFullView()
        net.run(for: .seconds(5))
        for i in stride(from: 2, to: 60, by: 3) { net.kill(i) }
        net.run(for: .seconds(10))
        return (net.bytesSent, changes)
    }

    func testAWindowedRunIsTheSameOnAnyNumberOfThreads() {
        let two = run(workers: 2), four = run(workers: 4), again = run(workers: 2)
        XCTAssertGreaterThan(two.changes.count, 20 * 40, "every survivor saw the victims go")
        XCTAssertEqual(two.bytes, four.bytes)
        XCTAssertEqual(two.changes, four.changes)
        XCTAssertEqual(two.changes, again.changes)
    }

    func testAKilledClusterIsFoundAndNoLiveMemberSuspectedWhenMembersRunAtOnce() {
        // As `testAWholeClusterKilledIsSearchedRatherThanFoundOneByOne`, with members on two threads.
        let (perSurvivor, falseSuspects) = killOneClusterOfFour(workers: 2)
        guard let perSurvivor else { return XCTFail("some survivor still saw a member of the killed cluster alive") }
        XCTAssertLessThanOrEqual(perSurvivor[perSurvivor.count / 2], 2.0, "four periods at lan")
        XCTAssertEqual(falseSuspects, 0, "members of the live clusters were suspected")
    }
}
