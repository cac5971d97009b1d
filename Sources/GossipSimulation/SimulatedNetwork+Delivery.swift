import Gossip
import SeededRandom
import Wire

/// Events reaching their members: ticks, datagrams and state-sync messages.
extension SimulatedNetwork {
    func handle(_ event: Event) {
        let i = event.node
        var outbox = SimulatedOutbox()
        let reply = Self.deliver(event, to: &nodes[i], at: now, wallClockMillis: wallClockMillis, outbox: &outbox)
        apply(outbox.actions, from: i)
        if let reply { sendSync(from: i, to: reply.peer, stream: reply.stream, messages: reply.messages) }
    }

    /// What a member answers on a state sync's stream.
    struct SyncReply {
        var peer: Int
        var stream: SyncStream
        var messages: [GossipMessage]
    }

    /// Hands `event` to its member: a tick, a datagram or a state-sync message, as the member's status allows.
    /// Touches nothing but the member, so that members can take their events at once (`runWindow`). Returns the
    /// member's answer on a state sync, if any.
    static func deliver(
        _ event: Event, to node: inout Node, at now: ContinuousClock.Instant, wallClockMillis wall: UInt64,
        outbox: inout SimulatedOutbox
    ) -> SyncReply? {
        switch event {
        case .tick:
            guard node.status == .running else { return nil }
            node.member.tickIfDue(now: now, wallClockMillis: wall, shell: &outbox)
        case .packet(_, let sender, let messages, let encoded):
            switch node.status {
            case .killed: return nil
            case .paused:
                if node.inbox.count < 1000 { node.inbox.append(event) }
                return nil
            case .running: break
            }
            var decoded = messages
            if let encoded {
                guard let m = try? WireEncoding.decodePacket(encoded) else { return nil }
                decoded = m
            }
            node.member.receive(decoded, from: sender, now: now, wallClockMillis: wall, shell: &outbox)
        case .sync(let i, let peer, var stream, let messages):
            switch node.status {
            case .killed: return nil
            case .paused:
                node.inbox.append(event)
                return nil
            case .running: break
            }
            let send = node.member.continueStateSync(&stream[side: i], with: messages, now: now, wallClockMillis: wall, shell: &outbox).send
            if !send.isEmpty { return SyncReply(peer: peer, stream: stream, messages: send) }
        }
        return nil
    }
}
