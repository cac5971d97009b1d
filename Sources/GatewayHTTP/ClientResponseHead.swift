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

    /// The interim answer to a request that expects `100-continue`, sent once the request is routed.
    static let continueLine = ByteBuffer(string: "HTTP/1.1 100 Continue\r\n\r\n")

    /// One of the proxy's own answers, whole: its head, and `text` as a plain-text body unless the request was a HEAD.
    /// An empty `text` is no body at all (`content-length: 0`, no content type).
    static func answer(_ status: HTTPResponseStatus, text: StaticString, keepAlive: Bool, clientMinor: Int, isHEAD: Bool,
                       allocator: ByteBufferAllocator) -> ByteBuffer {
        let length = text.utf8CodeUnitCount
        let head = ClientResponseHead(status: .local(status), framing: length == 0 ? .empty : .plainText(length: length),
                                      keepAlive: keepAlive)
        var out = allocator.buffer(capacity: head.estimatedSize + length)
        head.write(clientMinor: clientMinor, into: &out)
        if !isHEAD { out.writeStaticString(text) }
        return out
    }

    /// Writes the head for a client speaking HTTP/1.`clientMinor`, in one piece (`HeadBytes.swift`).
    func write(clientMinor: Int, into out: inout ByteBuffer) {
        out.writeHead(ForClient(head: self, clientMinor: clientMinor), estimatedSize: estimatedSize)
    }

    /// The head as a client speaking HTTP/1.`clientMinor` gets it.
    private struct ForClient: MessageHead {
        var head: ClientResponseHead
        var clientMinor: Int

        func emit(into out: inout some HeadSink) {
            out.append(clientMinor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ")
            switch head.status {
            case .upstream(let text):
                out.append(text)
            case .local(let status):
                out.append(String(status.code))
                out.append(byte: UInt8(ascii: " "))
                out.append(status.reasonPhrase)
            }
            out.append("\r\n")
            if let fields = head.fields { out.append(fields) }
            if let cluster = head.cluster {
                out.append("x-zone-cluster: ")
                out.append(cluster)
                out.append("\r\n")
            }
            switch head.framing {
            case .upstreamFields:
                break
            case .chunked:
                out.append("transfer-encoding: chunked\r\n")
            case .plainText(let length):
                out.append("content-type: text/plain; charset=utf-8\r\ncontent-length: ")
                out.append(String(length))
                out.append("\r\n")
            case .empty:
                out.append("content-length: 0\r\n")
            }
            if !head.keepAlive {
                out.append("connection: close\r\n")
            } else if clientMinor == 0 {
                out.append("connection: keep-alive\r\n")
            }
            out.append("\r\n")
        }
    }
}
