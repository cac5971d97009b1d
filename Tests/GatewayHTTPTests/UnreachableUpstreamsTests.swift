@testable import GatewayHTTP
import NIOCore
import Synchronization
import XCTest

/// A retry passes over endpoints that other requests could not connect to a moment ago.
final class UnreachableUpstreamsTests: XCTestCase {
    func testAFailedConnectIsRememberedForTheWindowOnly() {
        let memory = UnreachableUpstreams()
        let c2 = upstream("c2", 8080)
        let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)
        XCTAssertFalse(memory.contains(c2, now: t0))
        memory.note(c2, now: t0)
        XCTAssertTrue(memory.contains(c2, now: t0 + .milliseconds(1_999)))
        XCTAssertFalse(memory.contains(c2, now: t0 + UnreachableUpstreams.window))
        XCTAssertFalse(memory.contains(upstream("c2", 8081), now: t0), "an endpoint, not a cluster")
    }

    func testAConnectStormCannotGrowTheMemoryPastItsBound() {
        let memory = UnreachableUpstreams()
        let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)
        for port in 0..<1_000 { memory.note(upstream("c2", port), now: t0) }
        let held = (0..<1_000).filter { memory.contains(upstream("c2", $0), now: t0) }.count
        XCTAssertEqual(held, UnreachableUpstreams.capacity)
        XCTAssertTrue(memory.contains(upstream("c2", 999), now: t0), "the newest is kept")
    }

    /// Three clusters, c2 and c3 cut: the retry goes round the other clusters by weight (here c3, c1, c3, c1…).
    func testTheRetryPassesOverAnEndpointThatJustFailedAndFallsBackOnItWhenNothingElseIsLeft() {
        let c1 = upstream("c1", 1), c2 = upstream("c2", 2), c3 = upstream("c3", 3)
        let draws = Mutex(0)
        let table = CycleSelector(cycle: [c2]) { _ in
            draws.withLock { n in
                defer { n += 1 }
                return n % 2 == 0 ? c3 : c1
            }
        }
        let route = RouteHandle(table: table, host: "app.test", path: "/")!
        XCTAssertEqual(route.pickRetry(excluding: c2), c3, "no memory: the table's pick")
        let unreachable = UnreachableUpstreams()
        XCTAssertEqual(route.pickRetry(excluding: c2, avoiding: unreachable), c1, "nothing failed yet: the table's pick, whichever it is")
        unreachable.note(c3)
        for _ in 0..<4 { XCTAssertEqual(route.pickRetry(excluding: c2, avoiding: unreachable), c1, "c3 failed a moment ago") }
        let onlyC3 = CycleSelector(cycle: [c2]) { _ in c3 }
        let stuck = RouteHandle(table: onlyC3, host: "app.test", path: "/")!
        XCTAssertEqual(stuck.pickRetry(excluding: c2, avoiding: unreachable), c3, "nothing else to try: the one retry still goes")
    }

    /// On real sockets: c2 and c3 refuse, c1 answers; first tries alternate between c2 and c3, retries between the
    /// other two clusters. Without the memory about half the requests would fail; with it, only the first can.
    func testWithTwoClustersCutOnlyTheFirstRequestsRetryCanLandOnTheOtherCutOne() async throws {
        let live = try await DemoBackend(name: "c1", port: 0).start()
        let c1 = upstream("c1", live.port)
        let c2 = upstream("c2", try await refusedPort()), c3 = upstream("c3", try await refusedPort())
        let draws = Mutex(0)
        let selector = CycleSelector(cycle: [c2, c3]) { failed in
            draws.withLock { n in
                defer { n += 1 }
                let others = [c1, c2, c3].filter { $0.cluster != failed.cluster }
                return others.first { $0 != c1 }.map { n % 2 == 0 ? $0 : c1 } ?? c1
            }
        }
        let proxy = try await startProxy(selector)
        let client = try await TestHTTPClient.connect(port: proxy.port)
        var failed = 0
        for _ in 0..<20 {
            let response = try await client.request(.GET, "/")
            if response.status == .ok {
                XCTAssertEqual(response.headers.first(name: "x-zone-cluster"), "c1")
            } else {
                XCTAssertEqual(response.status, .badGateway)
                failed += 1
            }
        }
        XCTAssertLessThanOrEqual(failed, 1)
        await client.close()
        await proxy.shutdown()
        await live.shutdown()
    }
}
