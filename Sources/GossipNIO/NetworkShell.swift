import Gossip
import Logging
import MeshCrypto
import NIOCore
import Wire

/// The real network's shell, owned by `GossipService`: datagrams are sealed and queued for the UDP writer, state
/// syncs queued for the sync task group, wakes cut the timer loop's sleep short, and events go to the service's
/// stream. Everything the directives change on the way (counters, the set of member addresses) lives here, so a
/// member's step touches only its member and this shell.
struct NetworkShell: GossipShell {
    typealias Datagram = AddressedEnvelope<ByteBuffer>
    /// A state sync to open: the conversation and its request.
    typealias SyncOpening = (conversation: StateSyncConversation, request: [GossipMessage])

    /// The mesh keyring that seals every datagram now (a reload may replace it: `GossipService.replaceKeyring`).
    var keyring: Keyring?
    let datagrams: AsyncStream<Datagram>.Continuation
    let syncs: AsyncStream<SyncOpening>.Continuation
    let events: AsyncStream<GossipEvent>.Continuation
    var logger: Logger
    /// False before the sockets are bound and after the service stops: nothing is queued then.
    var sending = false
    var counters = GossipCounters()
    /// The addresses of the members alive or suspect now: the sources the inbound lanes may put first.
    var memberAddresses: Set<PeerAddress> = []
    /// The timer loop's current sleep and when it ends: cut short when the member asks for an earlier tick.
    var sleeper: (task: Task<Void, Never>, until: ContinuousClock.Instant)?

    /// `buffer` sealed with the primary key when there is a mesh key, as is otherwise.
    func seal(_ buffer: ByteBuffer) -> ByteBuffer {
        guard let keyring else { return buffer }
        return ByteBuffer(bytes: keyring.seal(Array(buffer.readableBytesView), sentAtMillis: GossipService.wallClockMillis()))
    }

    mutating func send(_ messages: [GossipMessage], bytes: Int, to peer: PeerAddress) {
        guard sending, let address = try? peer.socketAddress() else { return }
        let payload = seal(WireEncoding.encodePacket(messages))
        counters.packetsSent += 1
        counters.bytesSent += UInt64(payload.readableBytes)
        datagrams.yield(AddressedEnvelope(remoteAddress: address, data: payload))
    }

    mutating func openStateSync(_ conversation: StateSyncConversation, request: [GossipMessage]) {
        syncs.yield((conversation, request))
    }

    mutating func wake(at instant: ContinuousClock.Instant) {
        if let sleeper, instant < sleeper.until {
            sleeper.task.cancel()
            self.sleeper = nil
        }
    }

    mutating func observe(_ event: GossipEvent) {
        switch event {
        case .memberChanged(let snapshot, let previous):
            if snapshot.state.isActive { memberAddresses.insert(snapshot.address) } else { memberAddresses.remove(snapshot.address) }
            if snapshot.state == .dead || previous == .dead {
                logger.info("member changed", metadata: ["peer": "\(snapshot.identity)", "state": "\(snapshot.state)"])
            }
        case .recordRejected(let rejection):
            counters.dropped["rejected_" + rejection.reason, default: 0] += 1
        case .cutOff(let cut):
            if cut {
                logger.warning("cut off from the mesh: no probe answered, not even a helper's nack; suspicions held doubtful")
            } else {
                logger.notice("back in touch with the mesh: a probe was answered")
            }
        case .digestAccepted, .drainAccepted, .nameConflict:
            break
        }
        events.yield(event)
    }
}
