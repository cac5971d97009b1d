@testable import GatewayHTTP
import NIOCore
import SeededRandom
import XCTest

final class ResponseParserTests: XCTestCase {
    /// Feeds `wire` in pieces of `step` bytes, as reads would deliver it, and collects the events.
    private func parse(_ wire: String, step: Int = .max, head: Bool = false) throws -> (UpstreamResponseHead?, String, Bool) {
        var parser = ResponseParser()
        parser.reset(requestWasHEAD: head)
        let bytes = Array(wire.utf8)
        var pending = ByteBuffer()
        var parsedHead: UpstreamResponseHead?
        var body = ""
        var ended = false
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + step)
            pending.writeBytes(bytes[offset..<end])
            offset = end
            while let event = try parser.next(&pending) {
                switch event {
                case .head(let h): parsedHead = h
                case .body(let b): body += String(buffer: b)
                case .end: ended = true
                }
            }
        }
        if !ended, let event = try parser.endOfInput(), case .end = event { ended = true }
        return (parsedHead, body, ended)
    }

    func testContentLengthBodyInAnySplit() throws {
        let wire = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello"
        for step in 1...wire.utf8.count {
            let (head, body, ended) = try parse(wire, step: step)
            XCTAssertEqual(head?.status, 200)
            XCTAssertEqual(head.map { String(buffer: $0.statusText) }, "200 OK")
            XCTAssertEqual(head.map { String(buffer: $0.headerBlock) }, "Content-Length: 5\r\nX-A: b\r\n")
            XCTAssertEqual(head?.keepAlive, true)
            XCTAssertEqual(body, "hello", "step \(step)")
            XCTAssertTrue(ended)
        }
    }

    func testChunkedBodyIsDechunkedInAnySplit() throws {
        let wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n"
        for step in 1...wire.utf8.count {
            let (head, body, ended) = try parse(wire, step: step)
            XCTAssertEqual(head?.body, .chunked)
            XCTAssertEqual(head.map { String(buffer: $0.headerBlock) }, "", "transfer-encoding is per hop")
            XCTAssertEqual(body, "hello0123456789", "step \(step)")
            XCTAssertTrue(ended)
        }
    }

    func testBodilessAnswersAndInterimResponses() throws {
        let (h1, b1, e1) = try parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", head: true)
        XCTAssertEqual(h1?.body, ResponseBody.none)
        XCTAssertEqual(b1, "")
        XCTAssertTrue(e1)
        let (h2, _, e2) = try parse("HTTP/1.1 204 No Content\r\n\r\n")
        XCTAssertEqual(h2?.status, 204)
        XCTAssertTrue(e2)
        let (h3, b3, _) = try parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")
        XCTAssertEqual(h3?.status, 201)
        XCTAssertEqual(b3, "ok")
    }

    func testCloseDelimitedBodyAndKeepAliveRules() throws {
        let (h1, b1, e1) = try parse("HTTP/1.1 200 OK\r\n\r\nall of it")
        XCTAssertEqual(h1?.body, .untilClose)
        XCTAssertEqual(h1?.keepAlive, false)
        XCTAssertEqual(b1, "all of it")
        XCTAssertTrue(e1)
        let (h2, _, _) = try parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
        XCTAssertEqual(h2?.keepAlive, false)
        let (h3, _, _) = try parse("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n")
        XCTAssertEqual(h3?.keepAlive, true)
        let (h4, _, _) = try parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        XCTAssertEqual(h4?.keepAlive, false)
    }

    func testHopByHopLinesAreDropped() throws {
        let wire = "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nConnection: x-secret\r\nX-Secret: 1\r\nProxy-Thing: 2\r\nX-Kept: 3\r\nContent-Length: 0\r\n\r\n"
        let (head, _, _) = try parse(wire)
        XCTAssertEqual(head.map { String(buffer: $0.headerBlock) }, "X-Kept: 3\r\nContent-Length: 0\r\n")
    }

    func testTheFramingAndTheProxysHeaderAreNotTheUpstreamsToChange() throws {
        // `Connection` cannot remove the length that frames the body on the client's hop too.
        let named = try parse("HTTP/1.1 200 OK\r\nConnection: content-length, x-a\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nok")
        XCTAssertEqual(named.0.map { String(buffer: $0.headerBlock) }, "Content-Length: 2\r\n")
        XCTAssertEqual(named.0?.body, .length(2))
        // An upstream's own x-zone-cluster is dropped: the proxy names the cluster itself.
        let spoofed = try parse("HTTP/1.1 200 OK\r\nX-Zone-Cluster: c9\r\nContent-Length: 0\r\n\r\n")
        XCTAssertEqual(spoofed.0.map { String(buffer: $0.headerBlock) }, "Content-Length: 0\r\n")
        // With a transfer coding the length means nothing and goes; the proxy re-frames the body.
        let both = try parse("HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")
        XCTAssertEqual(both.0.map { String(buffer: $0.headerBlock) }, "")
        XCTAssertEqual(both.0?.body, .chunked)
        XCTAssertEqual(both.1, "ok")
    }

    func testMalformedResponsesAreErrors() {
        let bad = [
            "HTTP/2.0 200 OK\r\n\r\n", "HTTP/1.1 2x0 OK\r\n\r\n", "garbage\r\n\r\n",
            "HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n", "HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY",
            "HTTP/1.1 101 Switching Protocols\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        ]
        for wire in bad {
            XCTAssertThrowsError(try parse(wire), wire)
        }
    }

    func testALineFeedWithoutCarriageReturnInTheChunkFramingIsAnErrorAtOnce() {
        // Not a wait for the 8 KiB line limit: the bytes after the bare LF never arrive here.
        for framing in ["5\nhello\r\n0\r\n\r\n", "5\r\nhello\r\n0\r\nX-T: 1\n\r\n"] {
            let wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + framing
            for step in [1, 7, wire.utf8.count] {
                XCTAssertThrowsError(try parse(wire, step: step), "\(framing.debugDescription), step \(step)") {
                    // Not `truncated`, which is what the end of input says after a wait.
                    XCTAssertEqual($0 as? ResponseParseError, .invalidChunk)
                }
            }
        }
    }

    func testAHeadSentAByteARead() throws {
        // Each read searches on from where the last stopped, so a head of many fields sent a byte a read parses as whole.
        let fields = (0..<400).map { "X-Field-\($0): \(String(repeating: "v", count: 20))\r\n" }.joined()
        let wire = "HTTP/1.1 200 OK\r\n" + fields + "Transfer-Encoding: chunked\r\n\r\n"
            + "3;\(String(repeating: "e", count: 200))\r\nabc\r\n0\r\n\r\n"
        let (head, body, ended) = try parse(wire, step: 1)
        XCTAssertEqual(head.map { String(buffer: $0.headerBlock) }, fields)
        XCTAssertEqual(body, "abc")
        XCTAssertTrue(ended)
    }

    func testArbitraryBytesNeverCrashAndEveryEventConsumesInput() {
        // Seeded: a failure names its case and comes back on every run.
        var generator = SplitMix64(seed: 0x5EED_2026)
        let alphabet = Array("HTTP/1.1 200 OK\r\n:;abc0123456789 \t-,chunked".utf8)
        for round in 0..<2000 {
            var parser = ResponseParser()
            var buffer = ByteBuffer()
            let count = Int.random(in: 0..<200, using: &generator)
            for _ in 0..<count {
                buffer.writeInteger(Bool.random(using: &generator) ? alphabet.randomElement(using: &generator)! : UInt8.random(in: 0...255, using: &generator))
            }
            // Any outcome is fine but a crash or a loop that does not end: every event but the last
            // consumes at least one byte, so there are at most count + 1 of them.
            var steps = 0
            while let event = try? parser.next(&buffer), steps <= count + 1 {
                steps += 1
                if case .end = event { break }
            }
            XCTAssertLessThanOrEqual(steps, count + 1, "round \(round): the parser produced events without consuming input")
        }
    }

    func testChunkSizeLineWriting() {
        for size in [1, 9, 10, 15, 16, 255, 4096, 5 << 20] {
            var out = ByteBuffer()
            RequestEncoding.writeChunkSize(size, into: &out)
            XCTAssertEqual(String(buffer: out), String(size, radix: 16) + "\r\n")
        }
    }
}
