@testable import GatewayHTTP
import NIOCore
import NIOHTTP1
import XCTest

/// What the proxy works out once per client connection or request without NIO's slower paths: it must agree with them.
final class ClientConnectionTests: XCTestCase {
    func testKeepAliveIsDecidedAsNIODecidesIt() throws {
        let values = ["close", "keep-alive", "Keep-Alive", "CLOSE", " close ", "upgrade", "keep-alive, close", "close, keep-alive",
                      "keep-alive, keep-alive", "te, keep-alive", "", ",", "keep-alive,", "closed", "keep-alive-x"]
        var lists: [[String]] = [[]] + values.map { [$0] }
        lists += [["keep-alive", "keep-alive"], ["close", "upgrade"], ["upgrade", "keep-alive"]]
        for version in ["1.0", "1.1"] {
            for list in lists {
                let text = "GET / HTTP/\(version)\r\nHost: a\r\n" + list.map { "Connection: \($0)\r\n" }.joined() + "\r\n"
                let (head, _, keepAlive) = try Array(text.utf8).withUnsafeBytes { try RequestParser.parseHead($0) }
                XCTAssertEqual(keepAlive, head.isKeepAlive, "\(version) \(list)")
            }
        }
    }

    func testClientAddressesAreNamedAsSocketAddressNamesThem() throws {
        for ip in ["0.0.0.0", "1.2.3.4", "10.20.30.40", "127.0.0.1", "192.168.100.9", "255.255.255.255"] {
            let names = try XCTUnwrap(try SocketAddress(ipAddress: ip, port: 80).forwardingNames)
            XCTAssertEqual(names.clientIP, ip)
            XCTAssertEqual(names.forwarded, "for=\(ip);proto=http")
        }
        let v6 = try XCTUnwrap(try SocketAddress(ipAddress: "::1", port: 80).forwardingNames)
        XCTAssertEqual(v6.clientIP, "::1")
        XCTAssertEqual(v6.forwarded, "for=\"[::1]\";proto=http")
    }
}
