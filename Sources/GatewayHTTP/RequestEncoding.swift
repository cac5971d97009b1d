// The request head on its way from the client hop to the upstream hop. The client's framing is
// checked and then dropped: the proxy frames what it forwards itself, so no header the client
// sends (and nothing its `Connection` header names) can make the upstream read the body
// differently from the way the proxy read it (request smuggling, RFC 9112 §11.2).
import NIOCore
import NIOHTTP1

/// How a request body is delimited; the proxy writes this framing itself on the upstream hop.
enum RequestFraming: Equatable {
    /// No body.
    case none
    /// Exactly this many bytes (`Content-Length`).
    case length(Int)
    /// Chunked transfer coding.
    case chunked

    /// Whether a body follows the head.
    var hasBody: Bool {
        switch self {
        case .none: return false
        case .length(let n): return n > 0
        case .chunked: return true
        }
    }
}

/// Why a request head is answered by the proxy itself instead of being forwarded.
struct RequestRejection: Error {
    var status: HTTPResponseStatus
    var reason: StaticString

    static func badRequest(_ reason: StaticString) -> RequestRejection {
        RequestRejection(status: .badRequest, reason: reason)
    }
}

/// What the proxy reads from a request's header fields, in one pass, before routing.
struct RequestFields {
    /// The body's framing, from `Content-Length` or `Transfer-Encoding`.
    var framing = RequestFraming.none
    /// `Expect: 100-continue` was sent: the proxy answers 100 itself once the request has somewhere to go.
    var expectContinue = false
    var forwardedForLines = 0
    /// Fields the `Connection` header names, to leave behind; never one the proxy owns.
    var named: [Substring] = []

    /// Reads and checks the fields of a request head.
    ///
    /// Refused with 400 (RFC 9112 §3.2, §6.1, §6.3): more than one `Host`, an HTTP/1.1 request
    /// without one, an invalid `Host` value, both `Content-Length` and `Transfer-Encoding`, differing
    /// or malformed `Content-Length` values, a `Transfer-Encoding` other than exactly `chunked`.
    /// The proxy's parser (RequestParser) already rejects most of these before the proxy sees them; this check
    /// stands on its own so the proxy's framing never depends on the parser's leniency. An `Expect`
    /// other than `100-continue` gets 417 (RFC 9110 §10.1.1), `CONNECT` 405.
    static func inspect(_ head: HTTPRequestHead) -> Result<RequestFields, RequestRejection> {
        if case .CONNECT = head.method {
            // A tunnel: an upstream would read whatever follows its head as tunnel bytes, and the pooled connection
            // would carry the next client's request into it.
            return .failure(RequestRejection(status: .methodNotAllowed, reason: "CONNECT is not supported: this proxy does not tunnel\n"))
        }
        var fields = RequestFields()
        var hostLines = 0
        var contentLength: Int?
        var transferEncoding = false
        var chunkedOnly = true
        for (name, value) in head.headers {
            switch HopByHop.role(of: name) {
            case .host:
                hostLines += 1
                guard hostLines == 1 else { return .failure(.badRequest("more than one Host header\n")) }
                guard isValidHost(value) else { return .failure(.badRequest("the Host header is not a valid host\n")) }
            case .contentLength:
                guard let length = parseContentLength(value) else {
                    return .failure(.badRequest("the Content-Length header is not a number\n"))
                }
                if let earlier = contentLength, earlier != length {
                    return .failure(.badRequest("differing Content-Length headers\n"))
                }
                contentLength = length
            case .transferEncoding:
                // Only `Transfer-Encoding: chunked`, once: any other coding is one the proxy does not apply.
                chunkedOnly = chunkedOnly && !transferEncoding && HopByHop.equalsIgnoringCase(HopByHop.trimmed(value[...]), "chunked")
                transferEncoding = true
            case .connection:
                // The usual values name no field: no list to split (4 k instructions a request, callgrind).
                let whole = HopByHop.trimmed(value[...])
                if HopByHop.equalsIgnoringCase(whole, "close") || HopByHop.equalsIgnoringCase(whole, "keep-alive") { break }
                for token in value.split(separator: ",") {
                    let token = HopByHop.trimmed(token)
                    switch HopByHop.role(of: token) {
                    case .plain: fields.named.append(token)
                    // The proxy's own fields (framing, Host, forwarding) are never the client's to remove,
                    // and hop-by-hop ones go anyway; `close` and `keep-alive` are options, not names.
                    default: break
                    }
                }
            case .expect:
                guard HopByHop.equalsIgnoringCase(HopByHop.trimmed(value[...]), "100-continue") else {
                    return .failure(RequestRejection(status: .expectationFailed, reason: "only Expect: 100-continue is supported\n"))
                }
                fields.expectContinue = true
            case .forwardedFor:
                fields.forwardedForLines += 1
            case .plain, .hopByHop, .forwarded, .closeOrKeepAlive:
                break
            }
        }
        if hostLines == 0 && head.version.major == 1 && head.version.minor >= 1 {
            return .failure(.badRequest("an HTTP/1.1 request needs a Host header\n"))
        }
        if transferEncoding {
            guard contentLength == nil else {
                return .failure(.badRequest("both Content-Length and Transfer-Encoding\n"))
            }
            guard chunkedOnly else { return .failure(.badRequest("a Transfer-Encoding other than chunked\n")) }
            fields.framing = .chunked
        } else if let contentLength {
            // Kept even at 0: some servers want a length on every POST or PUT.
            fields.framing = .length(contentLength)
        }
        return .success(fields)
    }

    /// A `Host` value the proxy can route by and forward: no whitespace, no list, no path or user part.
    static func isValidHost<S: StringProtocol>(_ value: S) -> Bool {
        value.utf8.allSatisfy(isHostByte)
    }

    /// What a URI's host and port may hold (RFC 3986 §3.2.2: unreserved, sub-delims but the comma, `%` escapes, an
    /// IPv6 literal's brackets, the port's colon); no `@` (userinfo), nothing a router or an upstream could split on.
    static func isHostByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "!"), UInt8(ascii: "$"),
             UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"),
             UInt8(ascii: ";"), UInt8(ascii: "="), UInt8(ascii: ":"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "%"):
            return true
        default:
            return false
        }
    }

    private static func parseContentLength(_ value: String) -> Int? {
        let digits = HopByHop.trimmed(value[...]).utf8
        guard !digits.isEmpty, digits.count <= 18 else { return nil }
        var n = 0
        for d in digits {
            guard d >= 0x30 && d <= 0x39 else { return nil }
            n = n * 10 + Int(d - 0x30)
        }
        return n
    }
}

/// Request serialisation for the upstream hop.
enum RequestEncoding {
    /// The request line and headers for the upstream hop, in a buffer of their own.
    ///
    /// The proxy owns the framing: the client's `Content-Length` and `Transfer-Encoding` lines stay
    /// behind and the proxy writes its own from `fields.framing`, the framing its parser used. Hop-by-hop
    /// fields and those the `Connection` header names stay behind too (never `Host` or a field the proxy
    /// adds); so does `Expect`, which the proxy answers itself. The client's address is appended to
    /// `X-Forwarded-For` and a `Forwarded` element added. The version is always 1.1, so the upstream
    /// connection can be kept alive whatever the client speaks.
    ///
    /// - Parameters:
    ///   - target: the request target to send, when it differs from the client's (a normalised path,
    ///     or origin form for an absolute-form target); nil sends the client's.
    ///   - host: the `Host` to send instead of the client's (an absolute-form target's authority).
    ///   - allocator: gives the buffer, sized by `estimatedUpstreamHeadSize` so that most heads take one allocation.
    static func upstreamHead(
        _ head: HTTPRequestHead, fields: RequestFields, target: String? = nil, host: Substring? = nil,
        clientIP: String, forwarded: String, allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        let estimate = estimatedUpstreamHeadSize(head, target: target, host: host, clientIP: clientIP, forwarded: forwarded)
        var out = allocator.buffer(capacity: estimate)
        out.writeHead(UpstreamHead(head: head, fields: fields, target: target, host: host, clientIP: clientIP, forwarded: forwarded),
                      estimatedSize: estimate)
        return out
    }

    /// What most upstream heads fit in: the fixed lines, the target, this hop's additions and 384 bytes of the
    /// client's fields (a larger head is counted and written in a second pass).
    private static func estimatedUpstreamHeadSize(_ head: HTTPRequestHead, target: String?, host: Substring?, clientIP: String, forwarded: String) -> Int {
        512 + (target ?? head.uri).utf8.count + (host?.utf8.count ?? 0) + 2 * clientIP.utf8.count + forwarded.utf8.count
    }

    /// The request head for the upstream hop, written in one piece (`HeadBytes.swift`).
    private struct UpstreamHead: MessageHead {
        var head: HTTPRequestHead
        var fields: RequestFields
        var target: String?
        var host: Substring?
        var clientIP: String
        var forwarded: String

        func emit(into out: inout some HeadSink) {
            out.append(head.method.rawValue)
            out.append(byte: UInt8(ascii: " "))
            out.append(target ?? head.uri)
            out.append(" HTTP/1.1\r\n")
            if let host {
                out.append("host: ")
                out.append(host)
                out.append("\r\n")
            }
            var forwardedForSeen = 0
            for (name, value) in head.headers {
                switch HopByHop.role(of: name) {
                case .plain, .forwarded:
                    if !fields.named.isEmpty, fields.named.contains(where: { HopByHop.equalsIgnoringCase(name, $0) }) { continue }
                case .host:
                    if host != nil { continue }
                case .forwardedFor:
                    break
                case .hopByHop, .connection, .transferEncoding, .contentLength, .expect, .closeOrKeepAlive:
                    continue
                }
                out.append(name)
                out.append(": ")
                out.append(value)
                if fields.forwardedForLines > 0, name.utf8.count == 15, HopByHop.equalsIgnoringCase(name, "x-forwarded-for") {
                    forwardedForSeen += 1
                    // The list continues on its last line: that is where this hop's address belongs.
                    if forwardedForSeen == fields.forwardedForLines {
                        out.append(", ")
                        out.append(clientIP)
                    }
                }
                out.append("\r\n")
            }
            switch fields.framing {
            case .none:
                break
            case .length(let n):
                out.append("content-length: ")
                out.append(String(n))
                out.append("\r\n")
            case .chunked:
                out.append("transfer-encoding: chunked\r\n")
            }
            if fields.forwardedForLines == 0 {
                out.append("x-forwarded-for: ")
                out.append(clientIP)
                out.append("\r\n")
            }
            out.append("forwarded: ")
            out.append(forwarded)
            out.append("\r\n\r\n")
        }
    }

    /// Writes `size` in hex and CRLF: a chunk's size line.
    static func writeChunkSize(_ size: Int, into out: inout ByteBuffer) {
        var shift = (Int.bitWidth - size.leadingZeroBitCount + 3) / 4 * 4 - 4
        if size == 0 { shift = 0 }
        while shift >= 0 {
            let digit = UInt8((size >> shift) & 0xF)
            out.writeInteger(digit < 10 ? 0x30 + digit : 0x57 + digit)
            shift -= 4
        }
        out.writeStaticString("\r\n")
    }
}
