// The proxy's reader of client requests: bytes in, request parts out. NIO's decoder (llhttp, then a
// String per header line and a pipeline event per part through ByteToMessageHandler) cost 8.3 k
// instructions a request, a sixth of the whole proxied request (callgrind, bench/proxy-vs-haproxy.sh).
// This reads the same grammar no more leniently: RequestParserTests.testNoRequestReadsDifferentlyFromLLHTTP feeds it and NIO's decoder
// the same mutated requests and holds every message it accepts to the one llhttp reads. Where it is
// stricter it says so below. It still makes NIO's HTTPRequestHead, which the proxy's checks
// (RequestFields, RequestPlan) read, so those stand on their own as before.
import NIOCore
import NIOHTTP1

/// Why a client's bytes are not a request the proxy reads; the client gets ``status`` and the connection closes.
enum RequestParseError: Error, Equatable {
    case malformedRequestLine
    case unsupportedVersion
    case malformedHeader
    case headTooLarge
    /// Not digits, or a second `Content-Length` (llhttp refuses duplicates too).
    case invalidContentLength
    /// A coding other than exactly `chunked`, said once, or a length beside it: framing the proxy could read one way
    /// and an upstream another (RFC 9112 §6.1, §6.3; RequestFields refuses the same).
    case invalidTransferEncoding
    case invalidChunk

    /// The answer to the client.
    var status: HTTPResponseStatus {
        switch self {
        case .headTooLarge: return .requestHeaderFieldsTooLarge
        case .unsupportedVersion: return .httpVersionNotSupported
        default: return .badRequest
        }
    }
}

/// Reads HTTP/1.x requests, one part at a time, from the bytes of a client connection.
///
/// Stricter than llhttp as NIO configures it: line ends are CRLF only; a request line has single spaces and a
/// version of exactly `HTTP/1.0` or `HTTP/1.1`; field values hold no control byte but HTAB; a head, and a body's
/// trailer section, is at most ``maxHeadSize`` bytes (431 beyond; llhttp has no limit). Not stricter: any token is a
/// method (the proxy's checks judge it). After `CONNECT` or an `Upgrade` request llhttp stops reading the
/// connection; this goes on reading requests, which is what the upstream does too, since the proxy forwards neither
/// (`Upgrade` is hop-by-hop, and `CONNECT` gets 405 and the connection closes: RequestFields).
struct RequestParser {
    private enum State {
        case head
        case endPending
        case fixed(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers(bytes: Int)
        /// The last request of the connection was read (it is not keep-alive): what follows is dropped unread.
        case closing
        case failed
    }

    /// The largest request head accepted, and the largest trailer section. 64 KiB: HAProxy's whole buffer is 16 KiB by
    /// default, nginx's largest header buffers 4 × 8 KiB.
    static let maxHeadSize = 64 << 10
    /// The longest chunk-size line (with its extensions).
    static let maxChunkLineSize = 4 << 10

    private var state = State.head
    /// The request being read is the connection's last: its head does not keep the connection open.
    private(set) var lastRequest = false
    /// How many bytes at the front of the buffer were searched for the end of the head or line awaited, and held none:
    /// the next search resumes there (searching from the start each read made a head sent a byte a read cost its
    /// length squared).
    private var scanned = 0

    /// The next part the bytes in `buffer` complete, consuming them; nil when more bytes are needed (an incomplete
    /// head or chunk line stays unread in `buffer`). After an error every call throws again.
    mutating func next(_ buffer: inout ByteBuffer) throws -> HTTPServerRequestPart? {
        do {
            return try step(&buffer)
        } catch {
            state = .failed
            throw error
        }
    }

    private mutating func step(_ buffer: inout ByteBuffer) throws -> HTTPServerRequestPart? {
        while true {
            switch state {
            case .head:
                guard let (head, framing, keepAlive) = try parseHead(&buffer) else { return nil }
                lastRequest = !keepAlive
                switch framing {
                case .none: state = .endPending
                case .length(let n): state = n == 0 ? .endPending : .fixed(remaining: n)
                case .chunked: state = .chunkSize
                }
                return .head(head)
            case .endPending:
                state = lastRequest ? .closing : .head
                return .end(nil)
            case .fixed(let remaining):
                guard let (slice, left) = HTTPBytes.readBody(&buffer, remaining: remaining) else { return nil }
                state = left == 0 ? .endPending : .fixed(remaining: left)
                return .body(slice)
            case .chunkSize:
                guard let size = try Self.chunkSize(&buffer, scanned: &scanned) else { return nil }
                state = size == 0 ? .trailers(bytes: 0) : .chunkData(remaining: size)
            case .chunkData(let remaining):
                guard let (slice, left) = HTTPBytes.readBody(&buffer, remaining: remaining) else { return nil }
                state = left == 0 ? .chunkDataEnd : .chunkData(remaining: left)
                return .body(slice)
            case .chunkDataEnd:
                guard buffer.readableBytes >= 2 else { return nil }
                guard buffer.readInteger(as: UInt16.self) == 0x0D0A else { throw RequestParseError.invalidChunk }
                state = .chunkSize
            case .trailers(let bytes):
                // Trailer fields are read, checked and dropped: the upstream hop ends its own chunked body.
                guard let line = try Self.trailerLine(&buffer, after: bytes, scanned: &scanned) else { return nil }
                if line == 0 {
                    state = lastRequest ? .closing : .head
                    return .end(nil)
                }
                state = .trailers(bytes: bytes + line)
            case .closing:
                // The response closes the connection; llhttp refuses these bytes, which would close it before.
                buffer.moveReaderIndex(to: buffer.writerIndex)
                return nil
            case .failed:
                throw RequestParseError.malformedRequestLine
            }
        }
    }

    // MARK: Head

    private mutating func parseHead(_ buffer: inout ByteBuffer) throws -> (HTTPRequestHead, RequestFraming, keepAlive: Bool)? {
        // RFC 9112 §2.2: empty lines before a request line are ignored (clients send one after a POST body).
        while buffer.readableBytes >= 2, buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == 0x0D0A {
            buffer.moveReaderIndex(forwardBy: 2)
            scanned = 0
        }
        guard let length = HTTPBytes.headLength(buffer, limit: Self.maxHeadSize, from: scanned) else {
            if buffer.readableBytes > Self.maxHeadSize { throw RequestParseError.headTooLarge }
            scanned = buffer.readableBytes
            return nil
        }
        scanned = 0
        guard let head = buffer.readSlice(length: length) else { return nil }
        return try head.withUnsafeReadableBytes { try Self.parseHead($0) }
    }

    /// Reads a whole head, from its request line to its empty line; `keepAlive`: the connection stays open after it.
    static func parseHead(_ bytes: UnsafeRawBufferPointer) throws -> (HTTPRequestHead, RequestFraming, keepAlive: Bool) {
        // The request line: method SP target SP HTTP/1.x CRLF, single spaces (RFC 9112 §3).
        var i = 0
        while i < bytes.count && HTTPBytes.isTokenByte(bytes[i]) { i += 1 }
        guard i > 0, i < bytes.count, bytes[i] == 0x20 else { throw RequestParseError.malformedRequestLine }
        let methodEnd = i
        i += 1
        let targetStart = i
        // Visible ASCII only (RFC 9112 §3.2), as llhttp reads it.
        while i < bytes.count && bytes[i] > 0x20 && bytes[i] < 0x7F { i += 1 }
        guard i > targetStart, i < bytes.count, bytes[i] == 0x20 else { throw RequestParseError.malformedRequestLine }
        let targetEnd = i
        let method = Self.method(UnsafeRawBufferPointer(rebasing: bytes[0..<methodEnd]))
        // A pattern, not `==`: HTTPMethod compares its raw strings.
        let isCONNECT: Bool
        if case .CONNECT = method { isCONNECT = true } else { isCONNECT = false }
        guard isCONNECT || Self.isTargetForm(UnsafeRawBufferPointer(rebasing: bytes[targetStart..<targetEnd])) else {
            throw RequestParseError.malformedRequestLine
        }
        i += 1
        guard let lineEnd = HTTPBytes.findCRLF(bytes, from: i), lineEnd - i == 8 else { throw RequestParseError.malformedRequestLine }
        let version = try Self.version(UnsafeRawBufferPointer(rebasing: bytes[i..<lineEnd]))

        // The fields, each `name: value` (no whitespace before the colon, no obs-fold: RFC 9112 §5).
        var headers = HTTPHeaders()
        var contentLength: Int?
        var transferEncoding = false
        var keepAlive = KeepAliveTokens()
        var lineStart = lineEnd + 2
        let blockEnd = bytes.count - 2
        while lineStart < blockEnd {
            guard let end = HTTPBytes.findCRLF(bytes, from: lineStart) else { throw RequestParseError.malformedHeader }
            var colon = lineStart
            while colon < end && HTTPBytes.isTokenByte(bytes[colon]) { colon += 1 }
            guard colon > lineStart, colon < end, bytes[colon] == 0x3A else { throw RequestParseError.malformedHeader }
            for j in (colon + 1)..<end where !HTTPBytes.isFieldValueByte(bytes[j]) { throw RequestParseError.malformedHeader }
            let (valueStart, valueEnd) = HTTPBytes.trimmed(bytes, colon + 1, end)
            let name = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<colon])
            let value = UnsafeRawBufferPointer(rebasing: bytes[valueStart..<valueEnd])
            // After a framing value (or `Connection`, which says where the connection's last request ends) only spaces:
            // llhttp refuses a tab after a length or a coding, and reads `keep-alive<tab>` as no keep-alive.
            let framingValueEnds = !UnsafeRawBufferPointer(rebasing: bytes[valueEnd..<end]).contains(0x09)
            if name.count == 14, HopByHop.equalsLowercase(name, "content-length") {
                guard contentLength == nil, framingValueEnds, let n = HTTPBytes.parseDecimal(bytes, valueStart, valueEnd) else {
                    throw RequestParseError.invalidContentLength
                }
                contentLength = n
            } else if name.count == 17, HopByHop.equalsLowercase(name, "transfer-encoding") {
                guard !transferEncoding, framingValueEnds, HopByHop.equalsLowercase(value, "chunked") else {
                    throw RequestParseError.invalidTransferEncoding
                }
                transferEncoding = true
            } else if name.count == 10, HopByHop.equalsLowercase(name, "connection") {
                // llhttp reads `keep-alive<tab>` as another token and ends the connection; NIO read it as keep-alive.
                guard !UnsafeRawBufferPointer(rebasing: bytes[valueStart..<end]).contains(0x09) else {
                    throw RequestParseError.malformedHeader
                }
                keepAlive.read(bytes, valueStart, valueEnd)
            }
            headers.add(name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self))
            lineStart = end + 2
        }
        let framing: RequestFraming
        if transferEncoding {
            guard contentLength == nil else { throw RequestParseError.invalidTransferEncoding }
            framing = .chunked
        } else {
            framing = contentLength.map { .length($0) } ?? .none
        }
        let uri = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[targetStart..<targetEnd]), as: UTF8.self)
        return (HTTPRequestHead(version: version, method: method, uri: uri, headers: headers), framing, keepAlive.keepsOpen(version))
    }

    /// Origin form (`/path`), asterisk form (`*`) or absolute form (`http://host…` or `https://host…`, the host of the
    /// characters a URI's host may hold); CONNECT's authority form is let through by the caller (the proxy refuses it).
    private static func isTargetForm(_ target: UnsafeRawBufferPointer) -> Bool {
        if target[0] == 0x2F { return true }
        if target.count == 1 { return target[0] == 0x2A }
        let scheme: Int
        if target.count > 7, HopByHop.equalsLowercase(target.prefix(7), "http://") {
            scheme = 7
        } else if target.count > 8, HopByHop.equalsLowercase(target.prefix(8), "https://") {
            scheme = 8
        } else {
            return false
        }
        var i = scheme
        while i < target.count, target[i] != 0x2F, target[i] != 0x3F {
            guard RequestFields.isHostByte(target[i]) else { return false }
            i += 1
        }
        return i > scheme
    }

    private static func version(_ text: UnsafeRawBufferPointer) throws -> HTTPVersion {
        // "HTTP/d.d": 1.0 and 1.1 are read; any other well-formed version is one this proxy does not speak (505).
        guard text[0] == 0x48, text[1] == 0x54, text[2] == 0x54, text[3] == 0x50, text[4] == 0x2F, text[6] == 0x2E, (0x30...0x39).contains(text[5]), (0x30...0x39).contains(text[7])
        else { throw RequestParseError.malformedRequestLine }
        guard text[5] == 0x31, text[7] == 0x30 || text[7] == 0x31 else { throw RequestParseError.unsupportedVersion }
        return text[7] == 0x31 ? .http1_1 : .http1_0
    }

    private static func method(_ token: UnsafeRawBufferPointer) -> HTTPMethod {
        // The common ones without a String; the rest as NIO names them (its own case, or RAW).
        switch token.count {
        case 3 where token[0] == 0x47 && token[1] == 0x45 && token[2] == 0x54: return .GET
        case 4 where token[0] == 0x50 && token[1] == 0x4F && token[2] == 0x53 && token[3] == 0x54: return .POST
        case 4 where token[0] == 0x48 && token[1] == 0x45 && token[2] == 0x41 && token[3] == 0x44: return .HEAD
        default: return HTTPMethod(rawValue: String(decoding: token, as: UTF8.self))
        }
    }

    // MARK: Chunked body

    /// Reads a chunk-size line: `1*HEXDIG *( ";" token [ "=" ( token / quoted-string ) ] ) CRLF`, RFC 9112 §7.1.1
    /// without the optional whitespace, which llhttp refuses too; nil until the whole line is in `buffer`.
    static func chunkSize(_ buffer: inout ByteBuffer, scanned: inout Int) throws -> Int? {
        let parsed = try buffer.withUnsafeReadableBytes { bytes -> (size: Int, length: Int)? in
            guard let end = try HTTPBytes.lineEnd(bytes, scanned: scanned, bareLF: RequestParseError.invalidChunk) else {
                if bytes.count > maxChunkLineSize { throw RequestParseError.invalidChunk }
                return nil
            }
            guard end <= maxChunkLineSize else { throw RequestParseError.invalidChunk }
            var i = 0, size = 0
            while i < end, let digit = hexValue(bytes[i]) {
                // 15 hex digits stay well inside Int; anything longer is not a real chunk.
                guard i < 15 else { throw RequestParseError.invalidChunk }
                size = size << 4 | digit
                i += 1
            }
            guard i > 0 else { throw RequestParseError.invalidChunk }
            try extensions(bytes, from: i, to: end)
            return (size, end + 2)
        }
        guard let parsed else {
            scanned = buffer.readableBytes
            return nil
        }
        scanned = 0
        buffer.moveReaderIndex(forwardBy: parsed.length)
        return parsed.size
    }

    private static func extensions(_ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int) throws {
        var i = start
        func token() throws {
            let from = i
            while i < end && HTTPBytes.isTokenByte(bytes[i]) { i += 1 }
            guard i > from else { throw RequestParseError.invalidChunk }
        }
        while true {
            if i == end { return }
            guard bytes[i] == 0x3B else { throw RequestParseError.invalidChunk }
            i += 1
            try token()
            guard i < end, bytes[i] == 0x3D else { continue }
            i += 1
            guard i < end, bytes[i] == 0x22 else {
                try token()
                continue
            }
            // A quoted string: qdtext or a backslash and the byte it quotes, no control bytes but HTAB.
            i += 1
            while true {
                guard i < end, HTTPBytes.isFieldValueByte(bytes[i]) else { throw RequestParseError.invalidChunk }
                if bytes[i] == 0x22 { i += 1; break }
                if bytes[i] == 0x5C {
                    i += 1
                    guard i < end, HTTPBytes.isFieldValueByte(bytes[i]) else { throw RequestParseError.invalidChunk }
                }
                i += 1
            }
        }
    }

    @inline(__always)
    private static func hexValue(_ b: UInt8) -> Int? {
        switch b {
        case 0x30...0x39: return Int(b - 0x30)
        case 0x41...0x46: return Int(b - 0x41 + 10)
        case 0x61...0x66: return Int(b - 0x61 + 10)
        default: return nil
        }
    }

    /// Reads one line of a trailer section and returns its length with CRLF (2: the empty line that ends it); nil until
    /// the whole line is in `buffer`. `after` bytes of the section came before it.
    static func trailerLine(_ buffer: inout ByteBuffer, after: Int, scanned: inout Int) throws -> Int? {
        let length = try buffer.withUnsafeReadableBytes { bytes -> Int? in
            guard let end = try HTTPBytes.lineEnd(bytes, scanned: scanned, bareLF: RequestParseError.malformedHeader) else {
                if after + bytes.count > maxHeadSize { throw RequestParseError.headTooLarge }
                return nil
            }
            guard after + end + 2 <= maxHeadSize else { throw RequestParseError.headTooLarge }
            if end == 0 { return 2 }
            var colon = 0
            while colon < end && HTTPBytes.isTokenByte(bytes[colon]) { colon += 1 }
            guard colon > 0, colon < end, bytes[colon] == 0x3A else { throw RequestParseError.malformedHeader }
            for j in (colon + 1)..<end where !HTTPBytes.isFieldValueByte(bytes[j]) { throw RequestParseError.malformedHeader }
            return end + 2
        }
        guard let length else {
            scanned = buffer.readableBytes
            return nil
        }
        scanned = 0
        buffer.moveReaderIndex(forwardBy: length)
        return length == 2 ? 0 : length
    }
}
