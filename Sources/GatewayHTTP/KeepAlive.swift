// Whether a client's connection stays open after a request, read from the `Connection` fields' bytes while the
// request parser reads the head. NIO's HTTPRequestHead.isKeepAlive decides it the same way
// (ClientConnectionTests holds the two equal) but splits every `Connection` value into a new array of strings:
// 5.6 k instructions a call when a client says `Connection: close` (callgrind, a new connection per request).
import NIOHTTP1

/// The keep-alive tokens of a request's `Connection` fields, as they are read.
///
/// As `isKeepAlive`: a `close` token closes; one `keep-alive` token keeps open, two tokens of either kind close;
/// otherwise HTTP/1.1 keeps open and HTTP/1.0 closes (RFC 9112 §9.3).
struct KeepAliveTokens {
    private var keepAlive: Bool?

    /// Reads one `Connection` field's value, `start..<end` of `bytes`.
    mutating func read(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) {
        HTTPBytes.forEachToken(bytes, start, end) { tokenStart, tokenEnd in
            let token = UnsafeRawBufferPointer(rebasing: bytes[tokenStart..<tokenEnd])
            if HopByHop.equalsLowercase(token, "close") {
                keepAlive = false
            } else if HopByHop.equalsLowercase(token, "keep-alive") {
                keepAlive = keepAlive == nil
            }
        }
    }

    /// Whether a request of `version` with the fields read keeps its connection open.
    func keepsOpen(_ version: HTTPVersion) -> Bool {
        keepAlive ?? (version.major == 1 && version.minor >= 1)
    }
}
