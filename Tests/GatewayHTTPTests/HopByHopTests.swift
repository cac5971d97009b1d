@testable import GatewayHTTP
import NIOCore
import NIOHTTP1
import XCTest

final class HopByHopTests: XCTestCase {
    private func upstreamHead(_ headers: HTTPHeaders, method: HTTPMethod = .GET) -> (String, Bool) {
        var out = ByteBuffer()
        let head = HTTPRequestHead(version: .http1_0, method: method, uri: "/p?q=1", headers: headers)
        let chunked = RequestEncoding.writeUpstreamHead(head, clientIP: "10.1.2.3", forwarded: "for=10.1.2.3;proto=http", into: &out)
        return (String(buffer: out), chunked)
    }

    func testUpstreamHeadDropsHopByHopAndConnectionNamedFields() {
        let (text, chunked) = upstreamHead([
            "Host": "a", "Connection": "keep-alive, X-Private", "X-Private": "1", "Keep-Alive": "300",
            "TE": "trailers", "Trailer": "x", "Transfer-Encoding": "gzip, chunked", "Upgrade": "h2c",
            "Proxy-Authorization": "secret", "Proxy-Connection": "close", "X-Kept": "yes",
        ], method: .POST)
        XCTAssertTrue(chunked)
        XCTAssertEqual(text, "POST /p?q=1 HTTP/1.1\r\nHost: a\r\nX-Kept: yes\r\ntransfer-encoding: chunked\r\n"
            + "x-forwarded-for: 10.1.2.3\r\nforwarded: for=10.1.2.3;proto=http\r\n\r\n")
    }

    func testUpstreamHeadExtendsTheLastForwardedForLine() {
        let (text, chunked) = upstreamHead(["host": "a", "X-Forwarded-For": "1.1.1.1", "x-forwarded-for": "2.2.2.2", "content-length": "3"])
        XCTAssertFalse(chunked)
        XCTAssertEqual(text, "GET /p?q=1 HTTP/1.1\r\nhost: a\r\nX-Forwarded-For: 1.1.1.1\r\nx-forwarded-for: 2.2.2.2, 10.1.2.3\r\n"
            + "content-length: 3\r\nforwarded: for=10.1.2.3;proto=http\r\n\r\n")
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
