import GatewayHTTP
import NIOHTTP1
import WeightTable
import XCTest

@testable import ZoneAgent

/// The admin API's token check and readiness reasons, without a mesh.
final class AdminAccessTests: XCTestCase {
    let token = "0123456789abcdef0123456789abcdef"

    private func request(_ path: String, authorization: [String] = []) -> HTTPServerRequest {
        HTTPServerRequest(method: .GET, uri: path, headers: HTTPHeaders(authorization.map { ("Authorization", $0) }))
    }

    func testWithoutTheRightTokenGuardedPathsAnswer401WithABearerChallenge() throws {
        let access = AdminAccess(token: token, metricsPublic: false)
        for path in ["/v1/table", "/v1/members", "/", "/metrics", "/nope"] {
            let missing = try XCTUnwrap(access.refusal(for: request(path)), path)
            XCTAssertEqual(missing.status, .unauthorized)
            XCTAssertEqual(missing.headers.first(name: "www-authenticate"), #"Bearer realm="zone-agent""#)
            for wrong in ["Bearer 0123456789abcdef0123456789abcdeX", "Bearer " + token + "0", "Bearer 0123", "Basic " + token, "Bearer"] {
                let refused = try XCTUnwrap(access.refusal(for: request(path, authorization: [wrong])), wrong)
                XCTAssertEqual(refused.status, .unauthorized)
                XCTAssertTrue(refused.headers.first(name: "www-authenticate")?.hasPrefix("Bearer") ?? false)
            }
            XCTAssertNotNil(access.refusal(for: request(path, authorization: ["Bearer " + token, "Bearer " + token])), "two headers")
            XCTAssertNil(access.refusal(for: request(path, authorization: ["Bearer " + token])), path)
            XCTAssertNil(access.refusal(for: request(path, authorization: ["bearer  " + token])), "scheme is case-insensitive")
        }
    }

    func testADrainOrderNeedsTheTokenLikeEveryGuardedPath() throws {
        let access = AdminAccess(token: token, metricsPublic: true)
        for method in [HTTPMethod.POST, .GET] {
            let bare = HTTPServerRequest(method: method, uri: "/v1/drains")
            XCTAssertEqual(try XCTUnwrap(access.refusal(for: bare)).status, .unauthorized, "\(method)")
            let signed = HTTPServerRequest(method: method, uri: "/v1/drains", headers: ["Authorization": "Bearer " + token])
            XCTAssertNil(access.refusal(for: signed))
        }
    }

    func testProbesAreOpenAndMetricsOnlyWhenPublic() {
        let closed = AdminAccess(token: token, metricsPublic: false)
        XCTAssertNil(closed.refusal(for: request("/healthz")))
        XCTAssertNil(closed.refusal(for: request("/readyz")))
        XCTAssertNil(closed.refusal(for: request("/readyz?verbose=1")))
        XCTAssertNotNil(closed.refusal(for: request("/metrics")))
        XCTAssertNil(AdminAccess(token: token, metricsPublic: true).refusal(for: request("/metrics")))
        XCTAssertNil(AdminAccess(token: nil, metricsPublic: false).refusal(for: request("/v1/table")), "no token: open")
    }

    func testConstantTimeEquals() {
        let expected = Array(token.utf8)
        XCTAssertTrue(AdminAccess.constantTimeEquals(expected, expected))
        XCTAssertFalse(AdminAccess.constantTimeEquals(expected.dropLast(), expected))
        XCTAssertFalse(AdminAccess.constantTimeEquals(expected + [0x30], expected))
        XCTAssertFalse(AdminAccess.constantTimeEquals([], expected))
        var flipped = expected
        flipped[31] ^= 1
        XCTAssertFalse(AdminAccess.constantTimeEquals(flipped, expected))
    }

    func testReadinessReasons() async {
        XCTAssertEqual(Readiness.reason(.empty), "no routing table yet: nothing heard from the mesh")
        var noRoutes = RoutingTable.empty
        noRoutes.version = 3
        XCTAssertEqual(Readiness.reason(noRoutes), "the routing table has no routes")
        let ready: Readiness.Check = { nil }
        let notReady: Readiness.Check = { "cannot open any packet" }
        let combined = Readiness.all([ready, notReady])
        let reason = await combined()
        XCTAssertEqual(reason, "cannot open any packet")
        let none = await Readiness.all([ready])()
        XCTAssertNil(none)
    }
}
