// The byte-level grammar both of the proxy's HTTP/1.1 parsers read (RequestParser on the client side,
// ResponseParser on the upstream side): line ends, tokens, whitespace, numbers. One copy, so the two hops
// cannot disagree on what a line or a token is.
import NIOCore

enum HTTPBytes {
    /// The length of a head including its final empty line, once all of it is in `buffer`; nil while it is not, or
    /// when no end lies within `limit` bytes (the caller tells the two apart by the buffer's size). The first `from`
    /// bytes were searched before and held no end.
    static func headLength(_ buffer: ByteBuffer, limit: Int, from: Int = 0) -> Int? {
        buffer.withUnsafeReadableBytes { bytes -> Int? in
            let end = min(bytes.count, limit + 4)
            var i = max(3, from)
            while i < end {
                if bytes[i] == 0x0A && bytes[i - 1] == 0x0D && bytes[i - 2] == 0x0A && bytes[i - 3] == 0x0D { return i + 1 }
                i += 1
            }
            return nil
        }
    }

    /// Up to `remaining` bytes of a body from `buffer`, and how many remain after them; nil when `buffer` has none.
    static func readBody(_ buffer: inout ByteBuffer, remaining: Int) -> (bytes: ByteBuffer, left: Int)? {
        guard buffer.readableBytes > 0, let slice = buffer.readSlice(length: min(remaining, buffer.readableBytes)) else { return nil }
        return (slice, remaining - slice.readableBytes)
    }

    /// The bytes of `buffer` not read yet, nil when there are none: `buffer` itself while at most about half its storage
    /// is spent (read, or never written), else a copy in storage of its own.
    ///
    /// Always keeping `buffer` would keep everything it holds, read or not, and every later read joined to it: a client
    /// whose reads all end inside a message grew one buffer without bound. Always copying made a head sent a byte a read
    /// cost its length squared: 60 KiB of an upstream's head, a byte a read, took the gateway 1.7 s of CPU. Kept while
    /// it is mostly unread, the buffer grows by doubling as reads join it, and is copied only when the waste exceeds
    /// what it holds.
    static func unread(_ buffer: ByteBuffer) -> ByteBuffer? {
        guard buffer.readableBytes > 0 else { return nil }
        if buffer.capacity <= 2 * buffer.readableBytes + spentAllowance { return buffer }
        var copy = ByteBuffer()
        copy.reserveCapacity(buffer.readableBytes)
        copy.writeImmutableBuffer(buffer)
        return copy
    }

    /// Storage a kept buffer may spend beyond what it holds: a small head's first read is copied out of NIO's read buffer
    /// (2 KiB and up) rather than keeping it whole.
    private static let spentAllowance = 1024

    /// `bytes` after the bytes an earlier read left unread, if any (taken from `unread`, so they are not copied twice).
    static func afterUnread(_ unread: inout ByteBuffer?, _ bytes: ByteBuffer) -> ByteBuffer {
        guard var earlier = unread else { return bytes }
        unread = nil
        var bytes = bytes
        earlier.writeBuffer(&bytes)
        return earlier
    }

    /// Where the line at the front of `bytes` ends (its CR), searching on from `scanned` (the bytes before held no line
    /// end); nil until it has arrived. A bare LF throws `bareLF`: a line end two readers could see differently.
    static func lineEnd(_ bytes: UnsafeRawBufferPointer, scanned: Int, bareLF: some Error) throws -> Int? {
        var i = scanned
        while i < bytes.count {
            if bytes[i] == 0x0A {
                guard i > 0, bytes[i - 1] == 0x0D else { throw bareLF }
                return i - 1
            }
            i += 1
        }
        return nil
    }

    /// Where the first CRLF at or after `start` begins; nil when there is none, or a bare LF comes first (a line end
    /// two parsers could read differently, RFC 9112 §2.2).
    static func findCRLF(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var i = start
        while i + 1 < bytes.count {
            if bytes[i] == 0x0D {
                if bytes[i + 1] == 0x0A { return i }
            } else if bytes[i] == 0x0A {
                return nil
            }
            i += 1
        }
        return nil
    }

    /// RFC 9110 tchar: visible ASCII except separators.
    @inline(__always)
    static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case 0x21, 0x23...0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x30...0x39, 0x41...0x5A, 0x5E...0x7A, 0x7C, 0x7E: return true
        default: return false
        }
    }

    /// RFC 9110 field-vchar, SP or HTAB, and obs-text: what a field value may hold. Every other control byte (CR and
    /// LF among them) is refused, so a value cannot end a line early for one reader and not for another.
    @inline(__always)
    static func isFieldValueByte(_ b: UInt8) -> Bool {
        b == 0x09 || (b >= 0x20 && b != 0x7F)
    }

    /// `start..<end` without leading and trailing spaces and tabs.
    static func trimmed(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> (Int, Int) {
        var s = start, e = end
        while s < e && (bytes[s] == 0x20 || bytes[s] == 0x09) { s += 1 }
        while e > s && (bytes[e - 1] == 0x20 || bytes[e - 1] == 0x09) { e -= 1 }
        return (s, e)
    }

    /// Calls `body` with the bounds of each non-empty, trimmed element of the comma-separated list `start..<end`.
    static func forEachToken(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ body: (Int, Int) -> Void) {
        var i = start
        while i < end {
            while i < end && (bytes[i] == 0x2C || bytes[i] == 0x20 || bytes[i] == 0x09) { i += 1 }
            let tokenStart = i
            while i < end && bytes[i] != 0x2C { i += 1 }
            let (s, e) = trimmed(bytes, tokenStart, i)
            if e > s { body(s, e) }
        }
    }

    /// The decimal number `start..<end` spells, digits only and at most 18 of them (so it cannot overflow).
    static func parseDecimal(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Int? {
        guard end > start, end - start <= 18 else { return nil }
        var n = 0
        for i in start..<end {
            let d = bytes[i]
            guard d >= 0x30 && d <= 0x39 else { return nil }
            n = n * 10 + Int(d - 0x30)
        }
        return n
    }
}
