import Foundation
import XCTest

@testable import ZoneAgent

/// What a local drill that did not hold prints from the mesh's logs: the decisions of the drilled cluster's agents
/// and the gateway in the fault's window, nothing from before it or from the other cluster.
final class DrillEvidenceTests: XCTestCase {
    func testTheDrilledClustersDecisionsInTheFaultWindowAndNothingElse() throws {
        let dir = NSTemporaryDirectory() + "drill-evidence-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let mesh = try LocalMesh(directory: dir, binary: "/bin/false")
        defer { mesh.stopAll() }
        func log(_ name: String, _ lines: [String]) throws {
            try lines.map { $0 + "\n" }.joined().write(toFile: "\(dir)/\(name).log", atomically: true, encoding: .utf8)
        }
        try log("c2-a", [
            "2026-12-04T19:24:40+0000 info zone-agent: cluster=c2 member=c2-b was=unknown [ZoneAgent] member alive",
            "2026-12-04T19:24:50+0000 info zone-agent: endpoint=svc|127.1.2.11:8080 healthy=false [ZoneAgent] endpoint health changed",
            "2026-12-04T19:24:50+0000 info zone-agent: something else entirely",
            "2026-12-04T19:24:58+0000 info zone-agent: endpoint=svc|127.1.2.12:8080 healthy=false [ZoneAgent] endpoint health changed",
        ])
        try log("c1-a", ["2026-12-04T19:24:50+0000 info zone-agent: endpoint=svc|127.1.1.11:8080 healthy=false [ZoneAgent] endpoint health changed"])
        try log("gateway", [
            "2026-12-04T19:24:51+0000 notice zone-agent: cluster=c1 from=20 kind=failover reason=x route=r to=26 [ZoneAgent] routing change",
            "2026-12-04T19:24:51+0000 notice zone-agent: cluster=c2 from=80 kind=rebalance reason=partial route=r to=74 [ZoneAgent] routing change",
            "2026-12-04T19:25:30+0000 notice zone-agent: cluster=c2 from=74 kind=failover reason=late route=r to=0 [ZoneAgent] routing change",
        ])
        let from = try XCTUnwrap(ISO8601DateFormatter().date(from: "2026-12-04T19:24:49Z"))
        let text = mesh.decisions(of: "c2", from: from, until: from.addingTimeInterval(10))
        XCTAssertEqual(text, """
            --- c2-a
            2026-12-04T19:24:50+0000 info zone-agent: endpoint=svc|127.1.2.11:8080 healthy=false [ZoneAgent] endpoint health changed
            2026-12-04T19:24:58+0000 info zone-agent: endpoint=svc|127.1.2.12:8080 healthy=false [ZoneAgent] endpoint health changed
            --- c2-b: none
            --- c2-c: none
            --- gateway
            2026-12-04T19:24:51+0000 notice zone-agent: cluster=c2 from=80 kind=rebalance reason=partial route=r to=74 [ZoneAgent] routing change
            """)
    }
}
