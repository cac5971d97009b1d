import Wire

/// One state sync as either of its two members holds it: the three steps every transport carries out alike.
///
/// The member that opens a sync sends its summary and its own record (the request); the other merges them and
/// answers with its summary and every record the opener lacks (the reply); the opener merges that and sends back
/// every record the other lacks (the final), when there are any. Each side keeps one of these values: the
/// transport moves the messages (sealed TCP frames on the real network, events in the simulation) and hands each
/// message received to `receive`, which merges it and says what to send next. So the network and the simulation
/// hold the same conversation, and a message out of turn is refused in one place.
public struct StateSyncConversation: Sendable, Equatable {
    /// Where a conversation stands, from this side.
    public enum Step: Sendable, Equatable {
        /// Answering: the opener's request is due.
        case awaitingRequest
        /// Opened here: the peer's reply is due.
        case awaitingReply
        /// Answered: the opener's final records may still come (none come when it lacked nothing).
        case awaitingFinal
        /// Nothing more is read.
        case finished
    }

    /// The other member: the address it gossips from when this side opened, its connection's address otherwise.
    public let peer: PeerAddress
    /// This side's place in the conversation.
    public private(set) var step: Step

    /// A conversation this member opens with `peer`; `request` is its first message.
    public static func open(with peer: PeerAddress, core: GossipCore) -> (conversation: StateSyncConversation, request: [GossipMessage]) {
        (StateSyncConversation(peer: peer, step: .awaitingReply), core.stateSyncRequest())
    }

    /// A conversation `peer` opened with this member: its request is read first.
    public init(answering peer: PeerAddress) {
        self.init(peer: peer, step: .awaitingRequest)
    }

    private init(peer: PeerAddress, step: Step) {
        self.peer = peer
        self.step = step
    }

    /// Whether this side opened the conversation.
    public var isOpener: Bool { step == .awaitingReply }

    /// Whether the request has been answered here (the responder's measure of a sync that did its work).
    public var hasAnswered: Bool { step == .awaitingFinal || step == .finished }

    /// Merges `messages`, the next message from the peer, into `core`: what to send back (empty: nothing) and the
    /// core's directives. A message once the conversation is finished is not merged: the peer broke the protocol,
    /// and `accepted` is false.
    public mutating func receive(
        _ messages: [GossipMessage], core: inout GossipCore, now: ContinuousClock.Instant, wallClockMillis: UInt64,
        rng: inout some RandomNumberGenerator
    ) -> (accepted: Bool, send: [GossipMessage], directives: [GossipDirective]) {
        let next: Step
        switch step {
        case .awaitingRequest: next = .awaitingFinal
        case .awaitingReply, .awaitingFinal: next = .finished
        case .finished: return (false, [], [])
        }
        let (reply, directives) = core.onStateSync(messages, from: peer, now: now, wallClockMillis: wallClockMillis, rng: &rng)
        // The final is the last word: whatever the core would answer to it (nothing, as it carries no summary) is
        // not sent.
        let send = step == .awaitingFinal ? [] : reply
        step = next
        return (true, send, directives)
    }
}
