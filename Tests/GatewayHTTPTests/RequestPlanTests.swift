@testable import GatewayHTTP
import NIOCore
import NIOHTTP1
import XCTest

final class RequestPlanTests: XCTestCase {
    private let selector = PathSelector(routes: [("/svc1", Upstream(cluster: "c1", host: "127.0.0.1", port: 1))])

    private func plan(_ uri: String, _ headers: HTTPHeaders) -> RequestPlan {
        RequestPlan.make(
            HTTPRequestHead(version: .http1_1, method: .POST, uri: uri, headers: headers),
            table: selector, clientIP: "10.0.0.1", forwarded: "for=10.0.0.1;proto=http", allocator: ByteBufferAllocator()
        )
    }

    func testForwardedHeadIsNormalisedAndFramedByTheProxy() throws {
        guard case .forward(let forward) = plan("http://App.test:8080/svc1/./x/../y?q=1", [
            "Host": "ignored.test", "Content-Length": "3", "Connection": "content-length", "Expect": "100-continue",
        ]) else { return XCTFail("not forwarded") }
        XCTAssertEqual(forward.route.route, 0)
        XCTAssertEqual(forward.framing, .length(3))
        XCTAssertTrue(forward.expectsContinue)
        XCTAssertEqual(String(buffer: forward.head), "POST /svc1/y?q=1 HTTP/1.1\r\nhost: App.test:8080\r\ncontent-length: 3\r\n"
            + "x-forwarded-for: 10.0.0.1\r\nforwarded: for=10.0.0.1;proto=http\r\n\r\n")
    }

    func testLocalAnswersCloseWhenWhatFollowsIsUncertain() {
        let cases: [(String, HTTPHeaders, HTTPResponseStatus, Bool)] = [
            ("/nowhere", ["Host": "a"], .notFound, false),
            ("/nowhere", ["Host": "a", "Content-Length": "5"], .notFound, false),
            ("/nowhere", ["Host": "a", "Content-Length": "5", "Expect": "100-continue"], .notFound, true),
            ("/nowhere", ["Host": "a", "Expect": "100-continue"], .notFound, false),
            ("/nowhere", ["Host": "a", "Content-Length": "0", "Expect": "100-continue"], .notFound, false),
            ("/svc1/..%2f", ["Host": "a"], .badRequest, true),
            ("/svc1", ["Host": "a", "Host": "b"], .badRequest, true),
            ("http://u@a/svc1", ["Host": "a"], .badRequest, true),
        ]
        for (uri, headers, status, close) in cases {
            guard case .answer(let answered, _, let closes) = plan(uri, headers) else {
                XCTFail("\(uri) \(headers) was forwarded")
                continue
            }
            XCTAssertEqual(answered, status, "\(uri) \(headers)")
            XCTAssertEqual(closes, close, "\(uri) \(headers)")
        }
    }
}
