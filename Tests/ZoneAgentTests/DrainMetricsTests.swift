import MeshCrypto
import Prometheus
import Wire
import XCTest

@testable import ZoneAgent

/// `zone_agent_drains{cluster,route}`: 1 while a drain holds, 0 once it ended or was undone, gone with the order;
/// the page stays promtool-clean.
final class DrainMetricsTests: XCTestCase {
    let now: UInt64 = 1_800_000_000_000

    func signed(_ cluster: String, route: String = "", until: UInt64) -> SignedDrain {
        SignedDrain(drain: DrainRecord(cluster: cluster, route: route, issuedAtMillis: now - 1000, untilMillis: until),
                    keyID: KeyID(rawValue: 1), signature: Array(repeating: 0, count: 64))
    }

    func testOneSeriesPerOrderInForceEndedOrGone() throws {
        let registry = PrometheusCollectorRegistry()
        let metrics = DrainMetrics(registry: registry)
        metrics.update([signed("c2", until: now + 60_000), signed("c1", route: "shop.example.com/", until: now - 1)], nowMillis: now)
        var page = registry.emitToString()
        XCTAssertEqual(MetricsPage.value(page, #"zone_agent_drains{cluster="c2",route="*"}"#), 1)
        XCTAssertEqual(MetricsPage.value(page, #"zone_agent_drains{cluster="c1",route="shop.example.com/"}"#), 0, "ended")
        XCTAssertTrue(page.contains("# HELP zone_agent_drains "))
        try PromtoolCheck.metrics(page)
        metrics.update([signed("c2", until: now + 60_000)], nowMillis: now + 60_000)
        page = registry.emitToString()
        XCTAssertEqual(MetricsPage.value(page, #"zone_agent_drains{cluster="c2",route="*"}"#), 0, "ran out")
        XCTAssertNil(MetricsPage.value(page, #"zone_agent_drains{cluster="c1",route="shop.example.com/"}"#), "forgotten")
    }
}
