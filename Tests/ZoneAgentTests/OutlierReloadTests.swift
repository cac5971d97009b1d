import GatewayHTTP
import Synchronization
import WeightTable
import XCTest

@testable import ZoneAgent

/// The monitor's policy changed while it runs, as a reload does: off counts nothing, a new policy starts afresh
/// with the population it already knew, the same policy again changes nothing.
final class OutlierReloadTests: XCTestCase {
    let bad = Upstream(cluster: "c1", host: "127.0.0.1", port: 1)

    /// How many rebuilds the monitor asked for.
    final class Changes: Sendable {
        let count = Atomic(0)
        var value: Int { count.load(ordering: .relaxed) }
    }

    func makeMonitor(_ policy: OutlierPolicy?, changes: Changes) -> OutlierMonitor {
        let monitor = OutlierMonitor(policy: policy, metrics: { nil }, logger: .init(label: "test")) {
            changes.count.add(1, ordering: .relaxed)
        }
        let route = RouteEntry(spec: RouteSpec(uncheckedHost: "", path: "/", pathType: .prefix, service: "ns/a", weights: ["c1": 100]),
                               clusters: [ClusterEntry(cluster: "c1", configuredWeight: 100, effectiveWeight: 100, healthyEndpoints: 2,
                                                       totalEndpoints: 2, state: .active, reason: "")], endpoints: [], failStatic: false)
        monitor.tablePublished(RoutingTable(version: 1, hash: "", generatedAtMillis: 0, isolated: false, routes: [route], changes: []))
        return monitor
    }

    func fail(_ monitor: OutlierMonitor, times: Int) {
        for _ in 0..<times { monitor.record(bad, failed: true) }
    }

    func testAPolicySetChangedAndClearedWhileRunning() {
        let changes = Changes()
        let monitor = makeMonitor(nil, changes: changes)
        fail(monitor, times: 10)
        XCTAssertTrue(monitor.view().ejected.isEmpty, "off: nothing counted")
        XCTAssertNil(monitor.policy)

        let two = OutlierPolicy(consecutiveErrors: 2, maxEjectedPercent: 50, clusterErrorRate: nil)
        monitor.replace(policy: two)
        XCTAssertEqual(monitor.policy, two)
        XCTAssertEqual(changes.value, 1, "turning it on asks for a rebuild")
        fail(monitor, times: 2)
        XCTAssertEqual(monitor.view().ejected.count, 1, "the population known before it was on allows one of two")

        monitor.replace(policy: two)
        XCTAssertEqual(monitor.view().ejected.count, 1, "the same policy again keeps what it ejected")

        let three = OutlierPolicy(consecutiveErrors: 3, maxEjectedPercent: 50, clusterErrorRate: nil)
        monitor.replace(policy: three)
        XCTAssertTrue(monitor.view().ejected.isEmpty, "a new policy starts afresh")
        fail(monitor, times: 2)
        XCTAssertTrue(monitor.view().ejected.isEmpty, "and counts from the change")
        fail(monitor, times: 1)
        XCTAssertEqual(monitor.view().ejected.count, 1)

        let before = changes.value
        monitor.replace(policy: nil)
        XCTAssertTrue(monitor.view().ejected.isEmpty, "off: the ejection ends")
        XCTAssertNil(monitor.nextReleaseAt)
        XCTAssertGreaterThan(changes.value, before, "and the table is rebuilt without it")
        fail(monitor, times: 10)
        XCTAssertTrue(monitor.view().ejected.isEmpty)
    }
}
