@testable import GatewayHTTP
import NIOCore
import NIOHTTP1
import XCTest

/// Heads written in one piece: exactly the bytes of their pieces, whether they fit the estimate or not.
final class HeadBytesTests: XCTestCase {
    struct Pieces: MessageHead {
        var texts: [String]

        func emit(into sink: inout some HeadSink) {
            for text in texts { sink.append(text) }
            sink.append(byte: UInt8(ascii: "!"))
            sink.append("\r\n" as StaticString)
        }
    }

    func testAHeadThatOutgrowsItsEstimateIsWrittenWholeAfterWhatTheBufferHeld() {
        for (count, estimate) in [(0, 0), (1, 1), (3, 64), (40, 16), (40, 100_000)] {
            let texts = (0..<count).map { "field-\($0): " + String(repeating: "v", count: 100 + $0) + " é ✓\r\n" }
            var out = ByteBuffer(string: "before|")
            out.writeHead(Pieces(texts: texts), estimatedSize: estimate)
            XCTAssertEqual(String(buffer: out), "before|" + texts.joined() + "!\r\n", "\(count) pieces, estimate \(estimate)")
        }
    }

    func testTheWriterStopsAtTheEndOfItsMemoryAndSaysSo() {
        var memory = [UInt8](repeating: 0, count: 8)
        memory.withUnsafeMutableBytes { raw in
            var writer = HeadWriter(raw)
            writer.append("12345")
            XCTAssertFalse(writer.overflowed)
            writer.append("6789")
            XCTAssertTrue(writer.overflowed)
            writer.append("0")
            XCTAssertEqual(writer.offset, 5, "nothing after the piece that did not fit")
        }
        XCTAssertEqual(Array(memory[..<5]), Array("12345".utf8))
    }

    func testAnUpstreamHeadWithLongFieldsIsForwardedExactly() {
        var headers = HTTPHeaders([("Host", "a")])
        for i in 0..<30 { headers.add(name: "X-Long-\(i)", value: String(repeating: "x", count: 90)) }
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/p", headers: headers)
        guard case .success(let fields) = RequestFields.inspect(head) else { return XCTFail("refused") }
        let out = RequestEncoding.upstreamHead(head, fields: fields, clientIP: "10.1.2.3", forwarded: "for=10.1.2.3", allocator: ByteBufferAllocator())
        let expected = "GET /p HTTP/1.1\r\nHost: a\r\n" + (0..<30).map { "X-Long-\($0): " + String(repeating: "x", count: 90) + "\r\n" }.joined()
            + "x-forwarded-for: 10.1.2.3\r\nforwarded: for=10.1.2.3\r\n\r\n"
        XCTAssertEqual(String(buffer: out), expected)
    }
}
