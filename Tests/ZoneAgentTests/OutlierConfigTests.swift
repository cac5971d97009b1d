import WeightTable
import XCTest

@testable import ZoneAgent

/// `failover.outlierDetection` and `proxy.pinHeader`: off unless written, every value checked.
extension ConfigTests {
    func featureGateway(failover: String = "{}", proxy: String = "{ listen: 127.0.0.1:18000 }") -> String {
        """
        node: gw-1
        gossip: { bind: 127.0.0.1:7100, join: [127.0.0.1:7001] }
        keys: { trust: keys/trust.yaml }
        routes:
          - { host: a.example, path: /svc1, service: gateway-demo/service1, weights: { c1: 20, c2: 80 } }
        failover: \(failover)
        proxy: \(proxy)
        """
    }

    func testOutlierDetectionIsOffByDefaultAndTakesItsKeys() throws {
        XCTAssertNil(try load(featureGateway(), role: .gateway).failover.outlierDetection)
        XCTAssertEqual(try load(featureGateway(failover: "{ outlierDetection: {} }"), role: .gateway).failover.outlierDetection, OutlierPolicy())
        let config = try load(featureGateway(failover: """
            { outlierDetection: { consecutiveErrors: 3, baseEjection: 2s, maxEjection: 20s, maxEjectedPercent: 50, \
            clusterErrorRate: 0, window: 5s, minRequests: 8 } }
            """), role: .gateway)
        XCTAssertEqual(config.failover.outlierDetection, OutlierPolicy(
            consecutiveErrors: 3, baseEjection: .seconds(2), maxEjection: .seconds(20), maxEjectedPercent: 50, clusterErrorRate: nil,
            window: .seconds(5), minRequests: 8))
    }

    func testBadOutlierDetectionValuesAreRefusedNamingTheKey() {
        func refused(_ settings: String, key: String, contains: String, proxy: String = "{ listen: 127.0.0.1:18000 }") {
            assertConfigError(featureGateway(failover: "{ outlierDetection: \(settings) }", proxy: proxy), role: .gateway,
                              key: key, contains: contains)
        }
        refused("{ consecutiveErrors: 0 }", key: "failover.outlierDetection.consecutiveErrors", contains: "from 1 to 1000")
        refused("{ maxEjectedPercent: 101 }", key: "failover.outlierDetection.maxEjectedPercent", contains: "from 0 to 100")
        refused("{ clusterErrorRate: -1 }", key: "failover.outlierDetection.clusterErrorRate", contains: "from 0 to 100")
        refused("{ baseEjection: soon }", key: "failover.outlierDetection.baseEjection", contains: "not a duration")
        refused("{ baseEjection: 10ms }", key: "failover.outlierDetection.baseEjection", contains: "outside 100ms")
        refused("{ baseEjection: 60s, maxEjection: 30s }", key: "failover.outlierDetection.maxEjection", contains: "shorter than")
        refused("{ minRequests: 0 }", key: "failover.outlierDetection.minRequests", contains: "from 1 to")
        refused("{ consecutiveErorrs: 5 }", key: "failover.outlierDetection.consecutiveErorrs", contains: "did you mean `consecutiveErrors`")
        refused("5", key: "failover.outlierDetection", contains: "must be a mapping")
        refused("{}", key: "failover.outlierDetection", contains: "needs the built-in proxy", proxy: "{ idleTimeout: 10s }")
    }

    func testPinHeaderIsOffByDefaultAndChecked() throws {
        XCTAssertNil(try load(featureGateway(), role: .gateway).proxy.pinHeader)
        XCTAssertEqual(try load(featureGateway(proxy: "{ listen: 127.0.0.1:18000, pinHeader: X-Zone-Cluster-Pin }"), role: .gateway)
            .proxy.pinHeader, "x-zone-cluster-pin")
        assertConfigError(featureGateway(proxy: "{ listen: 127.0.0.1:18000, pinHeader: \"x pin\" }"), role: .gateway,
                          key: "proxy.pinHeader", contains: "is not a header name")
        assertConfigError(featureGateway(proxy: "{ listen: 127.0.0.1:18000, pinHeader: Host }"), role: .gateway,
                          key: "proxy.pinHeader", contains: "reads or writes itself")
        assertConfigError(featureGateway(proxy: "{ listen: 127.0.0.1:18000, pinHeader: x-zone-cluster }"), role: .gateway,
                          key: "proxy.pinHeader", contains: "reads or writes itself")
    }

    func testOutlierDetectionChangesApplyOnReload() throws {
        let off = try load(featureGateway(), role: .gateway)
        let on = try load(featureGateway(failover: "{ outlierDetection: {} }"), role: .gateway)
        let stricter = try load(featureGateway(failover: "{ outlierDetection: { consecutiveErrors: 2 } }"), role: .gateway)
        XCTAssertEqual(ConfigReloader.needsRestart(from: off, to: on), [])
        XCTAssertEqual(ConfigReloader.needsRestart(from: on, to: stricter), [])
        XCTAssertEqual(ConfigReloader.needsRestart(from: stricter, to: off), [])
    }
}
