import Gossip
import Wire

/// The simulation's shell for one step of one member: it writes down what the member asked for, in order, and the
/// network carries it out once the step is over.
struct SimulatedOutbox: GossipShell {
    enum Action {
        case send([GossipMessage], bytes: Int, to: PeerAddress)
        case openStateSync(StateSyncConversation, request: [GossipMessage])
        case wake(ContinuousClock.Instant)
        case event(GossipEvent)
    }

    private(set) var actions: [Action] = []

    mutating func send(_ messages: [GossipMessage], bytes: Int, to peer: PeerAddress) {
        actions.append(.send(messages, bytes: bytes, to: peer))
    }

    mutating func openStateSync(_ conversation: StateSyncConversation, request: [GossipMessage]) {
        actions.append(.openStateSync(conversation, request: request))
    }

    mutating func wake(at instant: ContinuousClock.Instant) {
        actions.append(.wake(instant))
    }

    mutating func observe(_ event: GossipEvent) {
        actions.append(.event(event))
    }
}

/// A state sync's stream in the simulation: which member opened it, and each side's conversation. It travels with
/// the messages, as a TCP connection's two ends would each hold their side.
struct SyncStream {
    let opener: Int
    let responder: Int
    var openerSide: StateSyncConversation
    var responderSide: StateSyncConversation

    /// Member `i`'s side of the stream.
    subscript(side i: Int) -> StateSyncConversation {
        get { i == opener ? openerSide : responderSide }
        set { if i == opener { openerSide = newValue } else { responderSide = newValue } }
    }
}
