import WeightTable
import XCTest

@testable import ZoneAgent

/// The traffic policy keys: under `failover:` for every route, on an inline route for itself.
extension ConfigTests {
    func trafficGateway(failover: String, route: String = "") -> String {
        """
        node: gw-1
        gossip: { bind: 127.0.0.1:7100, join: [127.0.0.1:7001] }
        keys: { trust: keys/trust.yaml }
        routes:
          - { host: a.example, path: /svc1, service: gateway-demo/service1, weights: { c1: 20, c2: 80 }\(route) }
          - { host: a.example, path: /svc2, service: gateway-demo/service2, weights: { c1: 50, c2: 50 } }
        failover: \(failover)
        """
    }

    func testTrafficPolicyKeysReachTheTablePolicy() throws {
        let config = try load(trafficGateway(
            failover: "{ priority: [[c2], [c1]], minHealthy: { percent: 50 }, whenNoneHealthy: none, vouching: alive-or-suspect }",
            route: ", whenNoneHealthy: all, minHealthy: { count: 2 }"), role: .gateway)
        let policy = config.failover.policy
        XCTAssertEqual(policy.traffic, TrafficPolicy(priority: [["c2"], ["c1"]], minHealthy: .percent(50), whenNoneHealthy: .none))
        XCTAssertEqual(policy.vouching, .aliveOrSuspect)
        let routes = config.routes?.routes ?? []
        let own = policy.traffic.overridden(by: routes.first { $0.path == "/svc1" }?.traffic)
        XCTAssertEqual(own, TrafficPolicy(priority: [["c2"], ["c1"]], minHealthy: .count(2), whenNoneHealthy: .all),
                       "a route's keys replace the global ones, the rest stay")
        XCTAssertNil(routes.first { $0.path == "/svc2" }?.traffic)
        XCTAssertEqual(try load(trafficGateway(failover: "{ mode: overprovision }"), role: .gateway).failover.policy.traffic, TrafficPolicy(),
                       "the defaults: proportional, one healthy endpoint, last good")
    }

    func testBadTrafficPolicyKeysAreRefusedNamingTheKey() {
        assertConfigError(trafficGateway(failover: "{ priority: [[c1], [c3]] }"), role: .gateway, key: "failover.priority[1][0]",
                          contains: "`c3` is not a cluster of the trust roster")
        assertConfigError(trafficGateway(failover: "{ priority: [[c1], [c1, c2]] }"), role: .gateway, key: "failover.priority[1][0]",
                          contains: "in more than one place")
        assertConfigError(trafficGateway(failover: "{ priority: [[]] }"), role: .gateway, key: "failover.priority[0]", contains: "empty group")
        assertConfigError(trafficGateway(failover: "{ minHealthy: { count: 2, percent: 50 } }"), role: .gateway, key: "failover.minHealthy",
                          contains: "exactly one of")
        assertConfigError(trafficGateway(failover: "{ minHealthy: { percent: 150 } }"), role: .gateway, key: "failover.minHealthy.percent",
                          contains: "from 1 to 100")
        assertConfigError(trafficGateway(failover: "{ whenNoneHealthy: open }"), role: .gateway, key: "failover.whenNoneHealthy",
                          contains: "last-good, all, none")
        assertConfigError(trafficGateway(failover: "{ vouching: suspect }"), role: .gateway, key: "failover.vouching", contains: "alive-or-suspect")
    }
}
