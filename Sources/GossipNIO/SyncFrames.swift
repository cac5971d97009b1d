/// The plaintext of state-sync frames, and how a sync message is cut into chunks and put together again. (What the
/// messages say and in which order is `StateSyncConversation`'s, in the core; this is only how they travel.)
///
/// A connection is a stream of frames (see `SyncFrameDecoder`), each sealed on its own when there is a mesh
/// key, each plaintext `kind (1) | body`. Each side's first frame is a small hello: the responder opens the
/// initiator's hello before it accepts anything large, and the initiator opens the responder's before it reads
/// the reply. A message (a wire packet of up to 16 MiB) then travels as `more` chunks and one `last` chunk of at
/// most `GossipTransportSettings.syncChunkBytes` each; every chunk is opened before the next one is read.
enum SyncFrames {
    static let helloKind: UInt8 = 1
    static let moreKind: UInt8 = 2
    static let lastKind: UInt8 = 3
    /// The hello's body: names the conversation's version, so a peer with the old framing fails cleanly.
    static let hello: [UInt8] = [helloKind] + Array("zone-agent sync 2".utf8)
    /// The largest hello plaintext accepted.
    static let helloLimit = 64
    /// Sent unsealed by a responder that cannot open the initiator's hello. Unauthenticated, so it changes only
    /// what the initiator reports (a likely mesh-key mismatch), never any state.
    static let cannotOpen: [UInt8] = Array("ZA-SYNC-CANNOT-OPEN".utf8)

    /// `packet` as chunk plaintexts of at most `size` body bytes each; an empty packet is one empty last chunk.
    static func chunks(of packet: [UInt8], size: Int) -> [[UInt8]] {
        let size = max(1, size)
        var out: [[UInt8]] = []
        var start = 0
        repeat {
            let end = min(packet.count, start + size)
            out.append([end == packet.count ? lastKind : moreKind] + packet[start..<end])
            start = end
        } while start < packet.count
        return out
    }
}

/// Puts a sync message together from its chunks, refusing one that would grow past `limit` bytes.
struct SyncReassembly: Sendable {
    let limit: Int
    private(set) var buffer: [UInt8] = []

    init(limit: Int) { self.limit = limit }

    /// Adds one opened chunk; returns the whole message when this chunk was its last.
    mutating func add(_ chunk: [UInt8]) throws(GossipTransportError) -> [UInt8]? {
        guard let kind = chunk.first, kind == SyncFrames.moreKind || kind == SyncFrames.lastKind else {
            throw .syncProtocol("expected a chunk, got a frame of kind \(chunk.first.map(String.init) ?? "none")")
        }
        guard buffer.count + chunk.count - 1 <= limit else { throw .syncFrameTooLarge(buffer.count + chunk.count - 1) }
        buffer += chunk.dropFirst()
        guard kind == SyncFrames.lastKind else { return nil }
        defer { buffer = [] }
        return buffer
    }
}
