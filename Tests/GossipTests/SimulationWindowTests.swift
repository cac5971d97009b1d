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
        let n = 200
        let net = SimulatedNetwork(count: n, seed: 21, link: .init(loss: 0.01), clusters: 4, crypto: .checksum, encodePackets: false)
        net.workers = 2
        net.minimumParallelBatch = 1
        var lastSeenAlive: [Int: [String: Duration]] = [:]
        var falseSuspects = 0
        let victims = Set((0..<n).filter { $0 % 4 == 3 }.map(SimulatedNetwork.name(of:)))
        net.onEvent = { event in
            guard case .memberChanged(let observer, let member, _, let at) = event, member.state != .alive else { return }
            if victims.contains(member.name) {
                if lastSeenAlive[observer, default: [:]][member.name] == nil { lastSeenAlive[observer, default: [:]][member.name] = at }
            } else {
                falseSuspects += 1
            }
        }
        net.bootstrapFullView()
        net.run(for: .seconds(10))
        let killedAt = net.elapsed
        for i in 0..<n where i % 4 == 3 { net.kill(i) }
        let survivors = (0..<n).filter { $0 % 4 != 3 }
        let gone = net.run(until: { survivors.allSatisfy { lastSeenAlive[$0]?.count == victims.count } },
                           step: .milliseconds(20), limit: .seconds(30))
        XCTAssertNotNil(gone, "some survivor still saw a member of the killed cluster alive")
        let perSurvivor = survivors.map { o in (lastSeenAlive[o]?.values.max() ?? .seconds(99)) - killedAt }.sorted()
        XCTAssertLessThanOrEqual(perSurvivor[perSurvivor.count / 2], .seconds(2), "four periods at lan")
        XCTAssertEqual(falseSuspects, 0, "members of the live clusters were suspected")
    }
}
