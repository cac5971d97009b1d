// A small HTTP/1.1 response parser for the upstream side of the proxy. NIO's decoder turns every
// header into a String and every part into a boxed pipeline event; the proxy only needs the status,
// the framing and the header block to pass on, so it slices the bytes it received instead. This
// halved the proxy's user-space CPU per request (see bench/proxy-vs-haproxy.sh).
import NIOCore

/// How the body of a response is delimited.
enum ResponseBody: Equatable {
    /// No body at all (HEAD, 204, 304, or content-length 0).
    case none
    /// Exactly this many bytes.
    case length(Int)
    /// Chunked transfer coding (the parser removes the chunk framing).
    case chunked
    /// Everything until the upstream closes the connection.
    case untilClose
}

/// A parsed response head, with its header block ready to forward.
struct UpstreamResponseHead {
    /// The status code.
    var status: Int
    /// `SSS reason` as the upstream sent it, without the version and the line end.
    var statusText: ByteBuffer
    /// The header lines to forward, each ending in CRLF: hop-by-hop fields and those named in
    /// `Connection` are gone (never `Content-Length`, which frames the body on both hops), so is
    /// `Transfer-Encoding` (framing is per hop) and any `x-zone-cluster` (the proxy writes its own).
    var headerBlock: ByteBuffer
    /// Whether the upstream lets the connection be reused after this response.
    var keepAlive: Bool
    /// How the body is delimited.
    var body: ResponseBody
}

/// One step of an upstream response.
enum UpstreamResponseEvent {
    case head(UpstreamResponseHead)
    /// Body bytes, without any chunk framing.
    case body(ByteBuffer)
    case end
}

/// Why an upstream response could not be parsed; the connection is then closed.
enum ResponseParseError: Error, Equatable {
    case malformedStatusLine
    case malformedHeader
    case headTooLarge
    case invalidContentLength
    case invalidChunk
    case unexpectedUpgrade
    case truncated
}

struct ResponseParser {
    private enum State {
        case head
        case endPending
        case fixed(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case untilClose
        case done
    }

    /// The largest response head accepted; larger ones are an error rather than unbounded buffering.
    static let maxHeadSize = 64 << 10
    private static let maxLineSize = 8 << 10

    private var state = State.head
    private var requestWasHEAD = false
    /// How many bytes at the front of the buffer were searched for the end of the head or line awaited, and held none:
    /// the next search resumes there. Searching from the start each read made an upstream that sent its head a byte a
    /// read cost the loop the head's length squared, a second of CPU for a 64 KiB head.
    private var scanned = 0

    /// Prepares for the response to a new request.
    mutating func reset(requestWasHEAD: Bool) {
        state = .head
        scanned = 0
        self.requestWasHEAD = requestWasHEAD
    }

    /// Whether the last response has been read completely.
    var isDone: Bool {
        if case .done = state { return true }
        return false
    }

    /// Whether nothing of a response has been read yet.
    var isAwaitingHead: Bool {
        if case .head = state { return true }
        return false
    }

    /// The next event the bytes in `buffer` complete, consuming them; nil when more bytes are needed
    /// (an incomplete head or chunk line stays unread in `buffer`).
    mutating func next(_ buffer: inout ByteBuffer) throws -> UpstreamResponseEvent? {
        while true {
            switch state {
            case .head:
                guard let head = try parseHead(&buffer) else { return nil }
                // Interim answers (100 Continue, 103 Early Hints) precede the real one: skip them.
                if head.status >= 100 && head.status < 200 { continue }
                switch head.body {
                case .none: state = .endPending
                case .length(let n): state = .fixed(remaining: n)
                case .chunked: state = .chunkSize
                case .untilClose: state = .untilClose
                }
                return .head(head)
            case .endPending:
                state = .done
                return .end
            case .fixed(let remaining):
                guard let (slice, left) = HTTPBytes.readBody(&buffer, remaining: remaining) else { return nil }
                state = left == 0 ? .endPending : .fixed(remaining: left)
                return .body(slice)
            case .chunkSize:
                guard let line = try readLine(&buffer) else { return nil }
                let size = try Self.chunkSize(line)
                state = size == 0 ? .trailers : .chunkData(remaining: size)
            case .chunkData(let remaining):
                guard let (slice, left) = HTTPBytes.readBody(&buffer, remaining: remaining) else { return nil }
                state = left == 0 ? .chunkDataEnd : .chunkData(remaining: left)
                return .body(slice)
            case .chunkDataEnd:
                guard buffer.readableBytes >= 2 else { return nil }
                guard buffer.readInteger(as: UInt16.self) == 0x0D0A else { throw ResponseParseError.invalidChunk }
                state = .chunkSize
            case .trailers:
                // Trailer fields are dropped: few clients read them and they would need their own filtering.
                guard let line = try readLine(&buffer) else { return nil }
                if line.readableBytes == 0 {
                    state = .done
                    return .end
                }
            case .untilClose:
                guard buffer.readableBytes > 0, let slice = buffer.readSlice(length: buffer.readableBytes) else { return nil }
                return .body(slice)
            case .done:
                return nil
            }
        }
    }

    /// The event the upstream closing its connection completes: the end of a close-delimited body;
    /// nil when no response was under way; an error when a response was cut short.
    mutating func endOfInput() throws -> UpstreamResponseEvent? {
        switch state {
        case .untilClose:
            state = .done
            return .end
        case .endPending:
            state = .done
            return .end
        case .head, .done:
            return nil
        default:
            throw ResponseParseError.truncated
        }
    }

    // MARK: Head

    private mutating func parseHead(_ buffer: inout ByteBuffer) throws -> UpstreamResponseHead? {
        guard let headLength = HTTPBytes.headLength(buffer, limit: Self.maxHeadSize, from: scanned) else {
            if buffer.readableBytes > Self.maxHeadSize { throw ResponseParseError.headTooLarge }
            scanned = buffer.readableBytes
            return nil
        }
        scanned = 0
        guard let head = buffer.readSlice(length: headLength) else { return nil }
        return try Self.parseHead(head, requestWasHEAD: requestWasHEAD)
    }

    static func parseHead(_ head: ByteBuffer, requestWasHEAD: Bool) throws -> UpstreamResponseHead {
        let scan = try head.withUnsafeReadableBytes { bytes -> HeadScan in
            try scanHead(bytes)
        }
        guard let statusText = head.getSlice(at: head.readerIndex + 9, length: scan.statusLineEnd - 9) else {
            throw ResponseParseError.malformedStatusLine
        }
        let block: ByteBuffer
        let blockStart = head.readerIndex + scan.statusLineEnd + 2
        let blockLength = head.readableBytes - scan.statusLineEnd - 4
        if scan.dropped.isEmpty {
            // The usual case: nothing to remove, so forward the received bytes without copying.
            block = head.getSlice(at: blockStart, length: max(blockLength, 0)) ?? ByteBuffer()
        } else {
            var copy = ByteBuffer()
            copy.reserveCapacity(max(blockLength, 0))
            var cursor = blockStart
            for range in scan.dropped {
                if let kept = head.getSlice(at: cursor, length: head.readerIndex + range.lowerBound - cursor) {
                    copy.writeImmutableBuffer(kept)
                }
                cursor = head.readerIndex + range.upperBound
            }
            if let rest = head.getSlice(at: cursor, length: blockStart + blockLength - cursor) {
                copy.writeImmutableBuffer(rest)
            }
            block = copy
        }

        let status = scan.status
        if status == 101 { throw ResponseParseError.unexpectedUpgrade }
        var keepAlive = scan.minor >= 1 ? !scan.connectionClose : scan.connectionKeepAlive
        let body: ResponseBody
        if requestWasHEAD || status == 204 || status == 304 || (status >= 100 && status < 200) {
            body = .none
        } else if scan.transferEncoding {
            // RFC 9112 §6.3: chunked must be the final coding, or the body runs until close.
            body = scan.chunked ? .chunked : .untilClose
        } else if let length = scan.contentLength {
            body = length == 0 ? .none : .length(length)
        } else {
            body = .untilClose
        }
        if body == .untilClose { keepAlive = false }
        return UpstreamResponseHead(status: status, statusText: statusText, headerBlock: block, keepAlive: keepAlive, body: body)
    }

    private struct HeadScan {
        var minor = 1
        var status = 0
        var statusLineEnd = 0
        var contentLength: Int?
        var transferEncoding = false
        var chunked = false
        var connectionClose = false
        var connectionKeepAlive = false
        /// Header lines (with their CRLF) not to forward, as offsets into the head.
        var dropped: [Range<Int>] = []
    }

    private static func scanHead(_ bytes: UnsafeRawBufferPointer) throws -> HeadScan {
        var scan = HeadScan()
        // "HTTP/1.x SSS" at least.
        guard bytes.count >= 16, bytes[0] == 0x48, bytes[1] == 0x54, bytes[2] == 0x54, bytes[3] == 0x50,
              bytes[4] == 0x2F, bytes[5] == 0x31, bytes[6] == 0x2E, bytes[8] == 0x20
        else { throw ResponseParseError.malformedStatusLine }
        guard bytes[7] == 0x30 || bytes[7] == 0x31 else { throw ResponseParseError.malformedStatusLine }
        scan.minor = Int(bytes[7] - 0x30)
        var status = 0
        for i in 9..<12 {
            let d = bytes[i]
            guard d >= 0x30 && d <= 0x39 else { throw ResponseParseError.malformedStatusLine }
            status = status * 10 + Int(d - 0x30)
        }
        guard status >= 100 else { throw ResponseParseError.malformedStatusLine }
        scan.status = status
        guard let lineEnd = HTTPBytes.findCRLF(bytes, from: 12) else { throw ResponseParseError.malformedStatusLine }
        guard lineEnd == 12 || bytes[12] == 0x20 else { throw ResponseParseError.malformedStatusLine }
        scan.statusLineEnd = lineEnd

        // Pass 1: framing and the Connection header's tokens.
        var namedByConnection: [(Int, Int)] = []
        var lineStart = lineEnd + 2
        let blockEnd = bytes.count - 2
        while lineStart < blockEnd {
            guard let end = HTTPBytes.findCRLF(bytes, from: lineStart) else { throw ResponseParseError.malformedHeader }
            var colon = lineStart
            while colon < end && bytes[colon] != 0x3A { colon += 1 }
            // No colon, an empty name, or a name with whitespace (obs-fold included) is malformed.
            guard colon < end, colon > lineStart else { throw ResponseParseError.malformedHeader }
            for i in lineStart..<colon where !HTTPBytes.isTokenByte(bytes[i]) { throw ResponseParseError.malformedHeader }
            let name = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<colon])
            // Hop-by-hop fields go, and so does an upstream's own `x-zone-cluster`: the proxy's header names the cluster.
            if HopByHop.isHopByHop(name) || (name.count == 14 && equalsLowercase(name, "x-zone-cluster")) {
                scan.dropped.append(lineStart..<(end + 2))
            }
            let value = HTTPBytes.trimmed(bytes, colon + 1, end)
            if equalsLowercase(name, "content-length") {
                guard let length = HTTPBytes.parseDecimal(bytes, value.0, value.1) else { throw ResponseParseError.invalidContentLength }
                if let earlier = scan.contentLength, earlier != length { throw ResponseParseError.invalidContentLength }
                scan.contentLength = length
            } else if equalsLowercase(name, "transfer-encoding") {
                scan.transferEncoding = true
                scan.chunked = lastTokenIsChunked(bytes, value.0, value.1)
            } else if equalsLowercase(name, "connection") {
                HTTPBytes.forEachToken(bytes, value.0, value.1) { start, end in
                    let token = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
                    if equalsLowercase(token, "close") {
                        scan.connectionClose = true
                    } else if equalsLowercase(token, "keep-alive") {
                        scan.connectionKeepAlive = true
                    } else if !equalsLowercase(token, "content-length") {
                        // The length frames the body for the client too: `Connection` cannot remove it.
                        namedByConnection.append((start, end))
                    }
                }
            }
            lineStart = end + 2
        }

        // Pass 2, only when a field named by `Connection` or a transfer coding drops more (lines are known to be
        // well formed now): which lines stay behind. Most responses need none; it cost ~1 k instructions each.
        guard scan.transferEncoding || !namedByConnection.isEmpty else { return scan }
        scan.dropped.removeAll(keepingCapacity: true)
        lineStart = lineEnd + 2
        while lineStart < blockEnd, let end = HTTPBytes.findCRLF(bytes, from: lineStart) {
            var colon = lineStart
            while colon < end && bytes[colon] != 0x3A { colon += 1 }
            let name = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<colon])
            // Hop-by-hop fields go, and so does an upstream's own `x-zone-cluster`: the proxy's header names the cluster.
            var drop = HopByHop.isHopByHop(name) || (name.count == 14 && equalsLowercase(name, "x-zone-cluster"))
            // With a transfer coding the length is meaningless (RFC 9112 §6.3) and the proxy re-frames the body.
            if !drop && scan.transferEncoding && name.count == 14 && equalsLowercase(name, "content-length") { drop = true }
            if !drop {
                for (start, end) in namedByConnection
                where equalsIgnoringCase(name, UnsafeRawBufferPointer(rebasing: bytes[start..<end])) {
                    drop = true
                    break
                }
            }
            if drop { scan.dropped.append(lineStart..<(end + 2)) }
            lineStart = end + 2
        }
        return scan
    }

    // MARK: Byte helpers

    /// The line at the front of `buffer`, without its CRLF; nil while it is incomplete. A line feed without a carriage
    /// return before it is an error at once, rather than a wait for the line limit.
    private mutating func readLine(_ buffer: inout ByteBuffer) throws -> ByteBuffer? {
        let end = try buffer.withUnsafeReadableBytes {
            try HTTPBytes.lineEnd($0, scanned: scanned, bareLF: ResponseParseError.invalidChunk)
        }
        guard let end else {
            if buffer.readableBytes > Self.maxLineSize { throw ResponseParseError.invalidChunk }
            scanned = buffer.readableBytes
            return nil
        }
        scanned = 0
        let line = buffer.readSlice(length: end)
        buffer.moveReaderIndex(forwardBy: 2)
        return line
    }

    static func chunkSize(_ line: ByteBuffer) throws -> Int {
        try line.withUnsafeReadableBytes { bytes -> Int in
            var size = 0
            var digits = 0
            for b in bytes {
                let value: Int
                switch b {
                case 0x30...0x39: value = Int(b - 0x30)
                case 0x41...0x46: value = Int(b - 0x41 + 10)
                case 0x61...0x66: value = Int(b - 0x61 + 10)
                case 0x3B, 0x20, 0x09:
                    // A chunk extension or whitespace before it: the size is complete.
                    guard digits > 0 else { throw ResponseParseError.invalidChunk }
                    return size
                default: throw ResponseParseError.invalidChunk
                }
                digits += 1
                // 15 hex digits stay well inside Int; anything longer is not a real chunk.
                guard digits <= 15 else { throw ResponseParseError.invalidChunk }
                size = size << 4 | value
            }
            guard digits > 0 else { throw ResponseParseError.invalidChunk }
            return size
        }
    }

    private static func lastTokenIsChunked(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Bool {
        var last: (Int, Int)?
        HTTPBytes.forEachToken(bytes, start, end) { last = ($0, $1) }
        guard let (s, e) = last else { return false }
        return equalsLowercase(UnsafeRawBufferPointer(rebasing: bytes[s..<e]), "chunked")
    }

    /// Whether `bytes` equal the lowercase ASCII `literal`, ignoring the case of `bytes`.
    private static func equalsLowercase(_ bytes: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
        guard bytes.count == literal.utf8CodeUnitCount else { return false }
        let lit = literal.utf8Start
        for i in 0..<bytes.count where HopByHop.lower(bytes[i]) != lit[i] { return false }
        return true
    }

    private static func equalsIgnoringCase(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        for i in 0..<a.count where HopByHop.lower(a[i]) != HopByHop.lower(b[i]) { return false }
        return true
    }
}
