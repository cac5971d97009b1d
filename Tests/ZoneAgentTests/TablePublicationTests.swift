import GatewayHTTP
import Synchronization
import WeightTable
import XCTest

@testable import ZoneAgent

/// What the gateway tells the built-in proxy when it publishes a table: the endpoints with weight.
final class TablePublicationTests: XCTestCase {
    private func table(c1: Int, c2: Int) -> RoutingTable {
        let spec = RouteSpec(uncheckedHost: "app.test", path: "/", pathType: .prefix, service: "ns/app", weights: ["c1": 20, "c2": 80])
        let other = RouteSpec(uncheckedHost: "other.test", path: "/", pathType: .prefix, service: "ns/other", weights: ["c2": 100])
        func cluster(_ name: String, _ weight: Int) -> ClusterEntry {
            ClusterEntry(cluster: name, configuredWeight: weight, effectiveWeight: weight, healthyEndpoints: 1, totalEndpoints: 1,
                         state: weight > 0 ? .active : .failed, reason: "test")
        }
        let endpoints = [
            EndpointEntry(cluster: "c1", host: "10.0.0.1", port: 80, weightPPM: 500_000),
            EndpointEntry(cluster: "c2", host: "10.0.0.2", port: 80, weightPPM: 500_000),
        ]
        return RoutingTable(version: 1, hash: "h", generatedAtMillis: 0, isolated: false, routes: [
            RouteEntry(spec: spec, clusters: [cluster("c1", c1), cluster("c2", c2)], endpoints: endpoints, failStatic: false),
            // c2's endpoint on another route where it keeps weight is live for that route's requests.
            RouteEntry(spec: other, clusters: [cluster("c2", c2 > 0 ? 100 : 0)],
                       endpoints: [EndpointEntry(cluster: "c2", host: "10.0.0.3", port: 80, weightPPM: 1_000_000)], failStatic: false),
        ], changes: [])
    }

    func testLiveUpstreamsAreTheEndpointsOfClustersWithWeight() {
        let both = TableSelector.liveUpstreams(table(c1: 20, c2: 80))
        XCTAssertEqual(both, [
            Upstream(cluster: "c1", host: "10.0.0.1", port: 80),
            Upstream(cluster: "c2", host: "10.0.0.2", port: 80),
            Upstream(cluster: "c2", host: "10.0.0.3", port: 80),
        ])
        XCTAssertEqual(TableSelector.liveUpstreams(table(c1: 100, c2: 0)), [Upstream(cluster: "c1", host: "10.0.0.1", port: 80)])
    }

    func testListenersHearEachTableInOrder() {
        let listeners = TableListeners()
        final class Heard: Sendable { let versions = Mutex<[UInt64]>([]) }
        let heard = Heard()
        listeners.add { table in heard.versions.withLock { $0.append(table.version) } }
        var first = table(c1: 20, c2: 80)
        first.version = 1
        var second = first
        second.version = 2
        listeners.notify(first)
        listeners.notify(second)
        XCTAssertEqual(heard.versions.withLock { $0 }, [1, 2])
    }
}
