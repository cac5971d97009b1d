// A proxied response on its way to the client: the head, held back until a small body has joined it, and the body in
// the framing the client reads (ProxyExchange decides which; this writes it).
import NIOCore

/// Writes one proxied response to the client's channel.
///
/// A head whose body is small (``ProxyExchange/ResponseStart/heldBodyLength``) waits for that body, so the two leave in
/// one buffer (one write, not a writev of two); it is also what lets a try that fails before then still end in a clean
/// 502, as nothing has reached the client. A body the upstream framed in a way the client cannot read is written as
/// chunks.
struct ClientResponseStream {
    /// A response head not written yet, with what has arrived of its small body.
    private var heldHead: ByteBuffer?

    /// Whether a head waits for its body: the client has not been flushed anything of this response.
    var holdsHead: Bool { heldHead != nil }

    /// Writes the response head `head`, or holds it when a body of `heldBodyLength` bytes is to join it.
    mutating func head(_ head: ByteBuffer, heldBodyLength: Int, context: ChannelHandlerContext) {
        if heldBodyLength > 0 {
            heldHead = head
        } else {
            context.write(NIOAny(head), promise: nil)
        }
    }

    /// Writes a part of the body as `framing` says, or adds it to the held head.
    mutating func body(_ chunk: inout ByteBuffer, framing: ProxyExchange.BodyFraming, context: ChannelHandlerContext) {
        if framing == .drop { return }
        if var held = heldHead {
            // Taken out first so the append does not copy the buffer.
            heldHead = nil
            held.writeBuffer(&chunk)
            heldHead = held
        } else if framing == .chunked {
            guard chunk.readableBytes > 0 else { return }
            var size = context.channel.allocator.buffer(capacity: 18)
            RequestEncoding.writeChunkSize(chunk.readableBytes, into: &size)
            context.write(NIOAny(size), promise: nil)
            context.write(NIOAny(chunk), promise: nil)
            context.write(NIOAny(Self.crlf), promise: nil)
        } else {
            context.write(NIOAny(chunk), promise: nil)
        }
    }

    /// The response's last bytes, not written yet: the last chunk, or the held head with its body. The stream is
    /// ready for the next response.
    mutating func end(lastChunk: Bool) -> ByteBuffer? {
        defer { heldHead = nil }
        return lastChunk ? Self.lastChunk : heldHead
    }

    /// Drops a held head: the response will not be written (the try failed, or the proxy answers itself).
    mutating func discard() {
        heldHead = nil
    }

    private static let crlf = ByteBuffer(string: "\r\n")
    private static let lastChunk = ByteBuffer(string: "0\r\n\r\n")
}
