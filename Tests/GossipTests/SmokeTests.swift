import XCTest
import Gossip
import GossipSimulation
import Wire

final class SmokeTests: XCTestCase {
    func testTenMembersConvergeAndDetectAKill() {
        let net = SimulatedNetwork(count: 10, seed: 7)
        let obs = Observations()
        obs.attach(to: net)
        net.joinAll()
        let converged = net.run(until: { net.fullyConverged() }, limit: .seconds(10))
        XCTAssertNotNil(converged)
        print("converged after", converged.map(seconds) ?? -1)
        net.run(for: .seconds(5))
        net.kill(3)
        let detected = net.run(until: { net.everyoneSees(3, as: .dead) }, limit: .seconds(30))
        print("detected after", detected.map(seconds) ?? -1, "bytes", net.bytesSent.reduce(0, +))
        XCTAssertNotNil(detected)
        XCTAssertTrue(obs.changes.filter { $0.member.state == .dead && $0.member.name != "m3" }.isEmpty)
    }
}
