@testable import GatewayHTTP
import NIOCore
import NIOHTTP1
import XCTest

final class HopByHopTests: XCTestCase {
    private func upstreamHead(_ headers: HTTPHeaders, method: HTTPMethod = .GET, version: HTTPVersion = .http1_0) -> (String, RequestFraming) {
        let head = HTTPRequestHead(version: version, method: method, uri: "/p?q=1", headers: headers)
        guard case .success(let fields) = RequestFields.inspect(head) else {
            XCTFail("refused: \(headers)")
            return ("", .none)
        }
        let out = RequestEncoding.upstreamHead(head, fields: fields, clientIP: "10.1.2.3", forwarded: "for=10.1.2.3;proto=http", allocator: ByteBufferAllocator())
        return (String(buffer: out), fields.framing)
    }

    private func refusal(_ headers: HTTPHeaders, version: HTTPVersion = .http1_1) -> RequestRejection? {
        let head = HTTPRequestHead(version: version, method: .POST, uri: "/", headers: headers)
        if case .failure(let rejection) = RequestFields.inspect(head) { return rejection }
        return nil
    }

    func testUpstreamHeadDropsHopByHopAndConnectionNamedFields() {
        let (text, framing) = upstreamHead([
            "Host": "a", "Connection": "keep-alive, X-Private", "X-Private": "1", "Keep-Alive": "300",
            "TE": "trailers", "Trailer": "x", "Transfer-Encoding": "chunked", "Upgrade": "h2c",
            "Proxy-Authorization": "secret", "Proxy-Connection": "close", "X-Kept": "yes",
        ], method: .POST)
        XCTAssertEqual(framing, .chunked)
        XCTAssertEqual(text, "POST /p?q=1 HTTP/1.1\r\nHost: a\r\nX-Kept: yes\r\ntransfer-encoding: chunked\r\n"
            + "x-forwarded-for: 10.1.2.3\r\nforwarded: for=10.1.2.3;proto=http\r\n\r\n")
    }

    func testUpstreamHeadExtendsTheLastForwardedForLine() {
        let (text, framing) = upstreamHead(["host": "a", "X-Forwarded-For": "1.1.1.1", "x-forwarded-for": "2.2.2.2", "content-length": "3"])
        XCTAssertEqual(framing, .length(3))
        XCTAssertEqual(text, "GET /p?q=1 HTTP/1.1\r\nhost: a\r\nX-Forwarded-For: 1.1.1.1\r\nx-forwarded-for: 2.2.2.2, 10.1.2.3\r\n"
            + "content-length: 3\r\nforwarded: for=10.1.2.3;proto=http\r\n\r\n")
    }

    func testTheProxysOwnFieldsCannotBeRemovedThroughConnection() {
        // The smuggling of issue 9: `Connection: content-length` must not drop the framing of a body that is sent.
        let (text, framing) = upstreamHead([
            "Host": "a", "Content-Length": "42", "Expect": "100-continue",
            "Connection": "content-length, transfer-encoding, host, x-forwarded-for, forwarded, expect, close",
            "X-Forwarded-For": "1.1.1.1", "Forwarded": "for=1.1.1.1",
        ], method: .POST, version: .http1_1)
        XCTAssertEqual(framing, .length(42))
        XCTAssertEqual(text, "POST /p?q=1 HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1, 10.1.2.3\r\nForwarded: for=1.1.1.1\r\n"
            + "content-length: 42\r\nforwarded: for=10.1.2.3;proto=http\r\n\r\n")
    }

    func testAZeroLengthIsKeptAndNoLengthStaysNone() {
        let (zero, zeroFraming) = upstreamHead(["Host": "a", "Content-Length": "0"], method: .POST)
        XCTAssertEqual(zeroFraming, .length(0))
        XCTAssertFalse(zeroFraming.hasBody)
        XCTAssertTrue(zero.contains("\r\ncontent-length: 0\r\n"), zero)
        let (none, noneFraming) = upstreamHead(["Host": "a"])
        XCTAssertEqual(noneFraming, .none)
        XCTAssertFalse(none.contains("content-length"), none)
    }

    func testAmbiguousFramingAndHostsAreRefused() {
        let cases: [(HTTPHeaders, HTTPResponseStatus?, HTTPVersion)] = [
            (["Host": "a", "Host": "b"], .badRequest, .http1_1),
            (["Host": "a", "host": "a"], .badRequest, .http1_1),
            ([:], .badRequest, .http1_1),
            ([:], nil, .http1_0),
            (["Host": "a b"], .badRequest, .http1_1),
            (["Host": "a,b"], .badRequest, .http1_1),
            (["Host": "user@a"], .badRequest, .http1_1),
            (["Host": ""], nil, .http1_1),
            (["Host": "[::1]:8080"], nil, .http1_1),
            (["Host": "a", "Content-Length": "5", "Transfer-Encoding": "chunked"], .badRequest, .http1_1),
            (["Host": "a", "Content-Length": "5", "Content-Length": "6"], .badRequest, .http1_1),
            (["Host": "a", "Content-Length": "5", "Content-Length": "5"], nil, .http1_1),
            (["Host": "a", "Content-Length": "-1"], .badRequest, .http1_1),
            (["Host": "a", "Content-Length": "0x10"], .badRequest, .http1_1),
            (["Host": "a", "Content-Length": "1234567890123456789"], .badRequest, .http1_1),
            (["Host": "a", "Transfer-Encoding": "gzip, chunked"], .badRequest, .http1_1),
            (["Host": "a", "Transfer-Encoding": "chunked, chunked"], .badRequest, .http1_1),
            (["Host": "a", "Transfer-Encoding": "chunked", "Transfer-Encoding": "chunked"], .badRequest, .http1_1),
            (["Host": "a", "Transfer-Encoding": "identity"], .badRequest, .http1_1),
            (["Host": "a", "Transfer-Encoding": " Chunked "], nil, .http1_1),
            (["Host": "a", "Expect": "100-Continue"], nil, .http1_1),
            (["Host": "a", "Expect": "something-else"], .expectationFailed, .http1_1),
        ]
        for (headers, status, version) in cases {
            XCTAssertEqual(refusal(headers, version: version)?.status, status, "\(headers)")
        }
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
        let splits: [(String, String, String)] = [
            ("/a/b?q=1#f", "/a/b", "?q=1#f"), ("/a", "/a", ""), ("/a#f", "/a", "#f"),
            ("http://h:1/p?q", "/p", "?q"), ("http://h?q", "", "?q"), ("http://h", "", ""), ("*", "*", ""),
        ]
        for (uri, path, rest) in splits {
            let split = RequestTarget.split(uri: uri)
            XCTAssertEqual(String(split.path), path, uri)
            XCTAssertEqual(String(split.rest), rest, uri)
        }
    }
}
