@testable import GatewayHTTP
import NIOHTTP1
import XCTest

final class HopByHopTests: XCTestCase {
    func testStripRemovesHopByHopAndConnectionNamedFields() {
        let headers: HTTPHeaders = [
            "Host": "a", "Connection": "keep-alive, X-Private", "X-Private": "1", "Keep-Alive": "300",
            "TE": "trailers", "Trailer": "x", "Transfer-Encoding": "gzip, chunked", "Upgrade": "h2c",
            "Proxy-Authorization": "secret", "Proxy-Connection": "close", "X-Kept": "yes",
        ]
        let (stripped, chunked) = HopByHop.strip(headers)
        XCTAssertTrue(chunked)
        XCTAssertEqual(stripped.map(\.name), ["Host", "X-Kept"])
    }

    func testStripLeavesOrdinaryHeadersAlone() {
        let headers: HTTPHeaders = ["host": "a", "accept": "*/*", "proxyish": "1"]
        let (stripped, chunked) = HopByHop.strip(headers)
        XCTAssertFalse(chunked)
        XCTAssertEqual(stripped, headers)
    }

    func testRoutingHostAndPath() {
        let cases: [(uri: String, host: String?, wantHost: String, wantPath: String)] = [
            ("/svc1/a?b=c", "Alb.Example.com:8080", "alb.example.com", "/svc1/a"),
            ("/", "[::1]:80", "[::1]", "/"),
            ("/x#frag", "h", "h", "/x"),
            ("http://Other.test:81/p?q", "ignored", "other.test", "/p"),
            ("http://other.test", nil, "other.test", "/"),
            ("/no-host", nil, "", "/no-host"),
            ("*", "h", "h", "*"),
        ]
        for c in cases {
            var headers = HTTPHeaders()
            if let host = c.host { headers.add(name: "host", value: host) }
            XCTAssertEqual(RequestTarget.routingHost(uri: c.uri, headers: headers), c.wantHost, c.uri)
            XCTAssertEqual(RequestTarget.path(uri: c.uri), c.wantPath, c.uri)
        }
    }
}
