import NIOCore
import Synchronization

/// The bounded hand-over of datagrams from the event loop to the service, in two lanes: datagrams from addresses
/// that recently sent a packet that opened under the mesh key (members) go ahead of everything else.
///
/// Why two lanes and not one: under a flood the service's backlog is the place where acknowledgements wait, and a
/// late ack is a false suspicion. The filter already bounds each address; the lanes make sure that whatever still
/// gets through from addresses that never proved the key cannot delay the members' pings and acks. Each lane holds
/// at most `capacity` datagrams: beyond that a datagram is dropped and counted (`backlog`), which the service also
/// reads as a sign of overload (see `GossipService.noteLoad`).
///
/// The service learns that datagrams are waiting through `doorbell`, which holds at most one ring, so a burst of
/// datagrams costs one wake-up.
final class InboundLanes: Sendable {
    typealias Datagram = AddressedEnvelope<ByteBuffer>

    private struct State {
        var members: [Datagram] = []
        var others: [Datagram] = []
        var trusted: Set<SourceKey> = []
        var dropped: UInt64 = 0
        var finished = false
    }

    /// The most datagrams each lane holds.
    let capacity: Int
    /// The most addresses remembered as members; when full, the set starts over (it refills within one period).
    let trustedCapacity: Int
    /// Rings when a datagram arrives in empty lanes.
    let doorbell: AsyncStream<Void>
    private let bell: AsyncStream<Void>.Continuation
    private let state = Mutex(State())

    init(capacity: Int, trustedCapacity: Int = 4096) {
        self.capacity = max(1, capacity)
        self.trustedCapacity = max(1, trustedCapacity)
        (doorbell, bell) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Queues a datagram in its lane; false when the lane was full and it was dropped.
    @discardableResult
    func push(_ datagram: Datagram) -> Bool {
        let source = SourceKey(datagram.remoteAddress)
        let (accepted, ring) = state.withLock { s -> (Bool, Bool) in
            guard !s.finished else { return (false, false) }
            let wasEmpty = s.members.isEmpty && s.others.isEmpty
            if let source, s.trusted.contains(source) {
                guard s.members.count < capacity else { s.dropped += 1; return (false, false) }
                s.members.append(datagram)
            } else {
                guard s.others.count < capacity else { s.dropped += 1; return (false, false) }
                s.others.append(datagram)
            }
            return (true, wasEmpty)
        }
        if ring { bell.yield() }
        return accepted
    }

    /// Takes up to `limit` datagrams, the members' lane first.
    func drain(limit: Int) -> [Datagram] {
        state.withLock { s in
            let fromMembers = min(limit, s.members.count)
            var out = Array(s.members.prefix(fromMembers))
            s.members.removeFirst(fromMembers)
            let fromOthers = min(limit - fromMembers, s.others.count)
            out += s.others.prefix(fromOthers)
            s.others.removeFirst(fromOthers)
            return out
        }
    }

    /// Remembers `address` as a member's: its datagrams now go into the first lane.
    func trust(_ address: SocketAddress) {
        guard let key = SourceKey(address) else { return }
        state.withLock { s in
            guard !s.trusted.contains(key) else { return }
            if s.trusted.count >= trustedCapacity { s.trusted.removeAll() }
            s.trusted.insert(key)
        }
    }

    /// Datagrams dropped because their lane was full.
    var droppedForBacklog: UInt64 { state.withLock { $0.dropped } }

    /// Datagrams waiting now.
    var backlog: Int { state.withLock { $0.members.count + $0.others.count } }

    /// Ends the doorbell; later datagrams are dropped.
    func finish() {
        state.withLock { $0.finished = true }
        bell.finish()
    }
}

/// The last inbound handler of the UDP channel: hands each datagram that passed the filter to the lanes.
final class InboundLanesHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    let lanes: InboundLanes

    init(lanes: InboundLanes) { self.lanes = lanes }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let datagram = unwrapInboundIn(data)
        // Vector reads slice many datagrams out of one large buffer; a copy the datagram's size keeps a queued
        // datagram from pinning that whole buffer. Only datagrams that passed the filter get this far.
        var copy = context.channel.allocator.buffer(capacity: datagram.data.readableBytes)
        copy.writeImmutableBuffer(datagram.data)
        lanes.push(AddressedEnvelope(remoteAddress: datagram.remoteAddress, data: copy))
    }
}
