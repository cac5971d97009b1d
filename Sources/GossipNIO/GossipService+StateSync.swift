import Gossip
import MeshCrypto
import NIOCore
import NIOPosix
import Wire

/// State sync over TCP on the gossip port: a sealed hello each way, then messages in sealed chunks.
///
/// What a hostile peer can take before it has proved the mesh key: one connection slot of
/// `maxSyncConnectionsPerSource` (of `maxSyncConnections` in all), for at most `syncHelloTimeout`, and the memory
/// of a hello (a frame longer than that is refused from its length prefix alone) plus what one socket read holds.
/// After the hello, each chunk is opened before the next is read (the async channel's buffer holds one frame),
/// a message is at most `WireLimits.syncFrame` bytes and a connection carries at most `syncByteBudget`.
extension GossipService {
    /// Bytes one state-sync connection may carry inbound: the two messages a responder reads (the request and the
    /// final answer) at their largest, and their chunks' framing.
    static let syncByteBudget = 2 * WireLimits.syncFrame.maxPacketBytes + (1 << 20)

    /// Adds the framing handlers to a state-sync connection, either side, and wraps it for async use.
    nonisolated func makeSyncChannel(_ channel: any Channel) throws -> SyncChannel {
        let overhead = transport.keyring == nil ? 0 : Keyring.overhead
        let ops = channel.pipeline.syncOperations
        try ops.addHandler(ByteToMessageHandler(SyncFrameDecoder(firstFrameLimit: SyncFrames.helloLimit + overhead,
                                                                 frameLimit: transport.syncChunkBytes + 1 + overhead)))
        try ops.addHandler(SyncHelloDeadline(timeout: .nanoseconds(Int64(max(0, transport.syncHelloTimeout / .nanoseconds(1))))))
        try ops.addHandler(MessageToByteHandler(SyncFrameEncoder()))
        // One frame buffered at a time: the next chunk is read only once this one has been opened.
        // Closed when dropped, rather than trapping: a connection accepted but not yet handed to the serving loop
        // when the service stops is dropped unserved, and NIO's non-deprecated wrapper then kills the process
        // (apple/swift-nio#2813; a burst of 64 connections and a stop did so every time here,
        // `SyncHardeningTests.testStoppingWhileConnectionsWaitToBeServedClosesThemWithoutTrapping`). NIO offers
        // close-on-drop only in this deprecated initializer; every served connection still ends in
        // `executeThenClose`, so nothing else relies on it.
        return try SyncChannel(synchronouslyWrapping: channel,
                               configuration: .init(backPressureStrategy: .init(lowWatermark: 1, highWatermark: 1)))
    }

    /// Binds the state-sync listener on `port`; connections beyond the budget are closed as they arrive.
    nonisolated func bindSyncListener(port: Int) async throws -> NIOAsyncChannel<SyncChannel, Never> {
        let budget = syncBudget
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: transport.bindHost, port: port) { child in
                child.eventLoop.makeCompletedFuture {
                    guard let source = child.remoteAddress.flatMap(SourceKey.init), budget.admit(source) else {
                        child.close(promise: nil)
                        throw GossipTransportError.syncProtocol("too many state-sync connections; this one was refused")
                    }
                    child.closeFuture.whenComplete { _ in budget.release(source) }
                    do {
                        return try self.makeSyncChannel(child)
                    } catch {
                        child.close(promise: nil)
                        throw error
                    }
                }
            }
    }

    // MARK: Frames

    /// A sealed frame of `plaintext` (counted as sent).
    private func sealFrame(_ plaintext: [UInt8]) -> ByteBuffer {
        let frame = seal(ByteBuffer(bytes: plaintext))
        shell.counters.bytesSent += UInt64(frame.readableBytes + 4)
        return frame
    }

    /// Our hello, sealed.
    func helloFrame() -> ByteBuffer { sealFrame(SyncFrames.hello) }

    /// `messages` as sealed chunk frames.
    func messageFrames(_ messages: [GossipMessage]) -> [ByteBuffer] {
        SyncFrames.chunks(of: WireEncoding.encodePacketBytes(messages), size: transport.syncChunkBytes).map(sealFrame)
    }

    /// A received frame's plaintext (counted as received), or nil when it is refused. A frame that does not open
    /// is counted against the peer's host (port 0): a connection's source port says nothing.
    func openFrame(_ frame: ByteBuffer, from peer: PeerAddress) -> [UInt8]? {
        shell.counters.bytesReceived += UInt64(frame.readableBytes + 4)
        return open(frame, from: PeerAddress(host: peer.host, port: 0), nowMillis: Self.wallClockMillis())
    }

    /// How a peer's first frame went.
    enum HelloCheck { case accepted, cannotOpen, refused }

    /// Checks a peer's first frame: it must open and be a hello. A responder that cannot open our hello says so
    /// in a fixed unsealed frame, which marks it as a peer with another mesh key.
    func checkHello(_ frame: ByteBuffer, from peer: PeerAddress) -> HelloCheck {
        if transport.keyring != nil, Array(frame.readableBytesView) == SyncFrames.cannotOpen {
            if peersThatCannotOpen.insert(peer).inserted {
                logger.warning("\(GossipTransportError.syncPeerCannotOpen(peer))")
            }
            return .refused
        }
        let before = shell.counters.dropped["open_failed", default: 0]
        guard let plaintext = openFrame(frame, from: peer) else {
            return shell.counters.dropped["open_failed", default: 0] > before ? .cannotOpen : .refused
        }
        guard plaintext == SyncFrames.hello else {
            drop("sync_no_hello")
            return .refused
        }
        peersThatCannotOpen.remove(peer)
        return .accepted
    }

    /// The messages of a reassembled sync message, or nil (counted) when it does not decode.
    func decodeSync(_ bytes: [UInt8]) -> [GossipMessage]? {
        do { return try WireEncoding.decodePacket(bytes, limits: .syncFrame) } catch {
            drop(error.reason)
            return nil
        }
    }

    /// Merges the peer's next message of `conversation`: the conversation as it stands after, and the frames to send
    /// back (none: nothing). Nil before the member exists, or when the message came out of turn.
    func continueSync(_ conversation: StateSyncConversation, with messages: [GossipMessage]) -> (StateSyncConversation, [ByteBuffer])? {
        var conversation = conversation
        guard let (accepted, send) = member?.continueStateSync(&conversation, with: messages, now: clock.now(),
                                                               wallClockMillis: Self.wallClockMillis(), shell: &shell),
              accepted else {
            return nil
        }
        return (conversation, send.isEmpty ? [] : messageFrames(send))
    }

    func countSync(success: Bool) {
        if success { shell.counters.syncsCompleted += 1 } else { shell.counters.syncsFailed += 1 }
    }

    // MARK: Conversations

    /// Holds `conversation`, which this member opened, over TCP: our hello and `request` (our summary); their hello,
    /// then their reply (their summary and what we lack); then what they lack.
    nonisolated func syncWith(_ conversation: StateSyncConversation, request: [GossipMessage]) async {
        let peer = conversation.peer
        let ok: Bool
        do {
            ok = try await withTimeout(transport.syncTimeout) {
                let address = try peer.socketAddress()
                var bootstrap = ClientBootstrap(group: self.group).connectTimeout(.seconds(2))
                // From the gossip address's host, so that the peer sees the same source for our UDP and TCP.
                if let local = try? SocketAddress(ipAddress: self.transport.bindHost, port: 0), !["0.0.0.0", "::"].contains(self.transport.bindHost) {
                    bootstrap = bootstrap.bind(to: local)
                }
                let channel = try await bootstrap
                    .connect(to: address) { channel in
                        channel.eventLoop.makeCompletedFuture { try self.makeSyncChannel(channel) }
                    }
                return try await channel.executeThenClose { inbound, outbound in
                    try await outbound.write(contentsOf: [await self.helloFrame()] + (await self.messageFrames(request)))
                    var frames = inbound.makeAsyncIterator()
                    guard let hello = try await frames.next() else { throw GossipTransportError.syncClosedEarly(peer) }
                    guard await self.checkHello(hello, from: peer) == .accepted else { return false }
                    var message = SyncReassembly(limit: WireLimits.syncFrame.maxPacketBytes)
                    var received = 0
                    while true {
                        guard let frame = try await frames.next() else { throw GossipTransportError.syncClosedEarly(peer) }
                        received += frame.readableBytes
                        guard received <= Self.syncByteBudget else { throw GossipTransportError.syncFrameTooLarge(received) }
                        guard let chunk = await self.openFrame(frame, from: peer) else { return false }
                        guard let whole = try message.add(chunk) else { continue }
                        guard let reply = await self.decodeSync(whole),
                              let (_, final) = await self.continueSync(conversation, with: reply) else { return false }
                        if !final.isEmpty { try await outbound.write(contentsOf: final) }
                        return true
                    }
                }
            }
        } catch {
            ok = false
        }
        await countSync(success: ok)
    }

    /// Answers a state sync another member opened: nothing large is read before its hello has opened, and nothing
    /// after the conversation's last message.
    nonisolated func serveSync(_ connection: SyncChannel) async {
        let remote = connection.channel.remoteAddress.flatMap { PeerAddress($0) }
        let ok: Bool
        do {
            ok = try await withTimeout(transport.syncTimeout) {
                try await connection.executeThenClose { inbound, outbound in
                    guard let remote else { return false }
                    var frames = inbound.makeAsyncIterator()
                    guard let hello = try await frames.next() else { return false }
                    switch await self.checkHello(hello, from: remote) {
                    case .accepted: break
                    case .cannotOpen:
                        try? await outbound.write(ByteBuffer(bytes: SyncFrames.cannotOpen))
                        return false
                    case .refused: return false
                    }
                    try await outbound.write(await self.helloFrame())
                    var message = SyncReassembly(limit: WireLimits.syncFrame.maxPacketBytes)
                    var received = 0
                    var conversation = StateSyncConversation(answering: remote)
                    while conversation.step != .finished, let frame = try await frames.next() {
                        received += frame.readableBytes
                        guard received <= Self.syncByteBudget else { throw GossipTransportError.syncFrameTooLarge(received) }
                        guard let chunk = await self.openFrame(frame, from: remote) else { return false }
                        guard let whole = try message.add(chunk) else { continue }
                        guard let messages = await self.decodeSync(whole),
                              let (next, reply) = await self.continueSync(conversation, with: messages) else { return false }
                        conversation = next
                        if !reply.isEmpty { try await outbound.write(contentsOf: reply) }
                    }
                    // The opener sends no final when it lacked nothing: an answered request is a sync done.
                    return conversation.hasAnswered
                }
            }
        } catch {
            ok = false
        }
        await countSync(success: ok)
    }
}

extension GossipMessage {
    /// Whether this is an acknowledgement (handled ahead of other packets in a batch).
    var isAck: Bool {
        if case .ack = self { return true }
        return false
    }
}
