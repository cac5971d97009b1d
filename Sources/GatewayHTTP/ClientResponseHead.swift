// The one writer of response heads to the proxy's clients. Proxied responses and the proxy's own
// answers share the status line, the framing fields and the connection fields, so the rules for
// them (HTTP/1.0 clients, keep-alive, close) live in one place.
import NIOCore
import NIOHTTP1

/// A response head for a client of the proxy, written as bytes.
struct ClientResponseHead {
    /// Where the status line comes from.
    enum Status {
        /// `SSS reason` as the upstream sent it.
        case upstream(ByteBuffer)
        /// One of the proxy's own answers.
        case local(HTTPResponseStatus)
    }

    /// How the client learns where the body ends.
    enum Framing {
        /// The upstream's header block already says (its `Content-Length`, or no body).
        case upstreamFields
        /// The proxy re-frames the body as chunked (the upstream's length was unknown).
        case chunked
        /// A body of the proxy's own, of this length, as `text/plain`.
        case plainText(length: Int)
        /// No body and no content type (`content-length: 0`).
        case empty
    }

    var status: Status
    /// Header lines to pass on, each ending in CRLF (the upstream's, already filtered).
    var fields: ByteBuffer?
    /// The cluster that served the response, for `x-zone-cluster`; nil for the proxy's own answers.
    var cluster: String?
    var framing: Framing
    /// Whether the connection stays open after this response.
    var keepAlive: Bool

    /// The bytes the head takes, about, to size the buffer once.
    var estimatedSize: Int {
        var size = 160 + (cluster?.utf8.count ?? 0) + (fields?.readableBytes ?? 0)
        if case .upstream(let text) = status { size += text.readableBytes }
        return size
    }

    /// Writes the head for a client speaking HTTP/1.`clientMinor`.
    func write(clientMinor: Int, into out: inout ByteBuffer) {
        out.writeStaticString(clientMinor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ")
        switch status {
        case .upstream(let text):
            out.writeImmutableBuffer(text)
        case .local(let status):
            out.writeString(String(status.code))
            out.writeInteger(UInt8(ascii: " "))
            out.writeString(status.reasonPhrase)
        }
        out.writeStaticString("\r\n")
        if let fields { out.writeImmutableBuffer(fields) }
        if let cluster {
            out.writeStaticString("x-zone-cluster: ")
            out.writeString(cluster)
            out.writeStaticString("\r\n")
        }
        switch framing {
        case .upstreamFields:
            break
        case .chunked:
            out.writeStaticString("transfer-encoding: chunked\r\n")
        case .plainText(let length):
            out.writeStaticString("content-type: text/plain; charset=utf-8\r\ncontent-length: ")
            out.writeString(String(length))
            out.writeStaticString("\r\n")
        case .empty:
            out.writeStaticString("content-length: 0\r\n")
        }
        if !keepAlive {
            out.writeStaticString("connection: close\r\n")
        } else if clientMinor == 0 {
            out.writeStaticString("connection: keep-alive\r\n")
        }
        out.writeStaticString("\r\n")
    }
}
