@testable import GatewayHTTP
import NIOCore
import NIOHTTP1
import Synchronization
import XCTest

/// Pinning by header in the request plan: the pinned cluster's endpoint, 503 otherwise, the header never forwarded,
/// the retry kept in the cluster, and nothing looked at when no header is configured.
final class ClusterPinTests: XCTestCase {
    /// One route; c1 has two endpoints, c2 one, c3 none.
    final class PinTable: UpstreamSelector, UpstreamTable {
        let endpoints = ["c1": [Upstream(cluster: "c1", host: "10.0.0.1", port: 1), Upstream(cluster: "c1", host: "10.0.0.2", port: 1)],
                         "c2": [Upstream(cluster: "c2", host: "10.0.0.3", port: 1)], "c3": []]
        let turn = Mutex(0)
        func route(host: String, path: String) -> Int? { 0 }
        func pick(route: Int) -> Upstream? { endpoints["c1"]![0] }
        func pickRetry(route: Int, excluding: Upstream) -> Upstream? { endpoints["c2"]![0] }
        func pickPinned(route: Int, cluster: String) -> PinnedPick {
            guard let choices = endpoints[cluster] else { return .unknownCluster }
            guard !choices.isEmpty else { return .cannotServe }
            return .upstream(choices[turn.withLock { n in defer { n += 1 }; return n % choices.count }])
        }
    }

    let table = PinTable()
    final class Reports: Sendable {
        let list = Mutex<[String]>([])
        func withLock<R>(_ body: (inout [String]) -> R) -> R { list.withLock { body(&$0) } }
    }
    let reported = Reports()

    func plan(_ headers: HTTPHeaders, pinned: Bool = true) -> RequestPlan {
        let reported = self.reported
        let pin = ClusterPin(header: "x-zone-cluster-pin") { cluster, result in
            reported.withLock { $0.append("\(cluster) \(result.rawValue)") }
        }
        return RequestPlan.make(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: headers), table: table,
                                clientIP: "10.9.9.9", forwarded: "for=10.9.9.9;proto=http", allocator: ByteBufferAllocator(),
                                pin: pinned ? pin : nil)
    }

    func testAPinnedRequestGoesToItsClusterWithoutTheHeaderAndRetriesThere() throws {
        guard case .forward(let forward) = plan(["Host": "a", "X-Zone-Cluster-Pin": " c1 ", "x-other": "kept"]) else {
            return XCTFail("not forwarded")
        }
        XCTAssertEqual(forward.upstream.cluster, "c1")
        XCTAssertEqual(String(buffer: forward.head), "GET / HTTP/1.1\r\nHost: a\r\nx-other: kept\r\n"
            + "x-forwarded-for: 10.9.9.9\r\nforwarded: for=10.9.9.9;proto=http\r\n\r\n")
        // The retry stays in c1, on its other endpoint; never c2, which the unpinned retry would pick.
        let retry = forward.route.pickRetry(excluding: forward.upstream)
        XCTAssertEqual(retry?.cluster, "c1")
        XCTAssertNotEqual(retry, forward.upstream)
        XCTAssertEqual(reported.withLock { $0 }, ["c1 served"])
    }

    func testAClusterThatCannotServeOrIsUnknownGets503() {
        guard case .answer(let status, let text, _) = plan(["Host": "a", "x-zone-cluster-pin": "c3"]) else { return XCTFail("forwarded") }
        XCTAssertEqual(status, .serviceUnavailable)
        XCTAssertEqual("\(text)", "the cluster this request is pinned to has no healthy endpoint for its route\n")
        guard case .answer(let unknown, let why, _) = plan(["Host": "a", "x-zone-cluster-pin": "nope"]) else { return XCTFail("forwarded") }
        XCTAssertEqual(unknown, .serviceUnavailable)
        XCTAssertEqual("\(why)", "the cluster this request is pinned to is not a cluster of its route\n")
        XCTAssertEqual(reported.withLock { $0 }, ["c3 cannot_serve", "nope unknown_cluster"])
    }

    func testWithoutAPinHeaderConfiguredTheHeaderIsJustAHeader() throws {
        guard case .forward(let forward) = plan(["Host": "a", "x-zone-cluster-pin": "c2"], pinned: false) else { return XCTFail("not forwarded") }
        XCTAssertEqual(forward.upstream.cluster, "c1")
        XCTAssertTrue(String(buffer: forward.head).contains("x-zone-cluster-pin: c2\r\n"))
        XCTAssertEqual(reported.withLock { $0 }, [])
    }
}
