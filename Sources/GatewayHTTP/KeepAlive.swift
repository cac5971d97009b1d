// Whether a client's connection stays open after a request. NIO's HTTPRequestHead.isKeepAlive decides it
// the same way but splits every `Connection` value into a new array of strings: 5.6 k instructions a call
// when a client says `Connection: close` (callgrind, a new connection per request). The request parser asks
// once a request, and the exchange takes its answer.
import NIOHTTP1

extension HTTPRequestHead {
    /// As `isKeepAlive`: a `close` token closes; one `keep-alive` token keeps open, two tokens of either kind close;
    /// otherwise HTTP/1.1 keeps open and HTTP/1.0 closes (RFC 9112 §9.3).
    var keepsConnectionOpen: Bool {
        var keepAlive: Bool?
        for (name, value) in headers where name.utf8.count == 10 && HopByHop.equalsIgnoringCase(name, "connection") {
            Self.forEachToken(of: value) { token in
                if HopByHop.equalsLowercase(token, "close") {
                    keepAlive = false
                } else if HopByHop.equalsLowercase(token, "keep-alive") {
                    keepAlive = keepAlive == nil
                }
            }
        }
        return keepAlive ?? (version.major == 1 && version.minor >= 1)
    }

    private static func forEachToken(of value: String, _ body: (UnsafeRawBufferPointer) -> Void) {
        var value = value
        value.withUTF8 { utf8 in
            let bytes = UnsafeRawBufferPointer(utf8)
            HTTPBytes.forEachToken(bytes, 0, bytes.count) { body(UnsafeRawBufferPointer(rebasing: bytes[$0..<$1])) }
        }
    }
}
