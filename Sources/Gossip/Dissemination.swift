import Wire

/// What a member has to tell others, waiting to be piggybacked on its probes and acks and pushed in gossip rounds:
/// news of members (records and accusations) and health digests, each in a `TransmitQueue` of its own.
///
/// Two queues rather than one, so that a flood of membership news (a cluster failing) cannot starve the digests
/// that carry the endpoints' health, nor the reverse.
struct Dissemination: Sendable {
    private var membership: TransmitQueue
    private var digests: TransmitQueue
    /// The share of a datagram membership news may take while digests wait.
    let membershipShare: Double

    init(capacity: Int, membershipShare: Double) {
        membership = TransmitQueue(capacity: capacity)
        digests = TransmitQueue(capacity: capacity)
        self.membershipShare = membershipShare
    }

    /// Whether nothing waits to be sent.
    var isEmpty: Bool { membership.isEmpty && digests.isEmpty }

    /// Queues news about the member whose queue key is `key` (a name, or `name#generation` for an older
    /// generation held beside a newer one), replacing older news about it.
    mutating func enqueueMembership(_ message: GossipMessage, key: String) {
        membership.enqueue(message, key: "m:" + key, size: WireEncoding.encodedSize(of: message))
    }

    /// Queues a digest under `key` (`DigestStore.queueKey`), replacing an older one of its origin.
    mutating func enqueueDigest(_ message: GossipMessage, key: String, size: Int) {
        digests.enqueue(message, key: key, size: size)
    }

    /// Fills the room `budget` (bytes of messages, header excluded) left after `used` bytes of control messages
    /// with pending news, appended to `messages`, each counted as one transmission of at most `limit`: membership
    /// first, but at most `membershipShare` of the budget while digests wait, then digests, then more membership
    /// news if room is left. Returns the bytes added. (Appended in place: a datagram's worth of news copied from
    /// array to array was a tenth of a member's work while a cluster failed.)
    mutating func piggyback(budget: Int, used: Int, limit: Int, into messages: inout [GossipMessage]) -> Int {
        guard !isEmpty else { return 0 }
        var used = used
        var bytes = 0
        let share = digests.isEmpty ? budget - used : min(budget - used, Int(Double(budget) * membershipShare))
        let first = membership.take(budget: share, limit: limit, into: &messages)
        used += first
        bytes += first
        let more = digests.take(budget: budget - used, limit: limit, into: &messages)
        used += more
        bytes += more
        if budget - used > 32 {
            bytes += membership.take(budget: budget - used, limit: limit, into: &messages)
        }
        return bytes
    }

    /// `piggyback(budget:used:limit:into:)` into a new array.
    mutating func piggyback(budget: Int, used: Int, limit: Int) -> (messages: [GossipMessage], bytes: Int) {
        var messages: [GossipMessage] = []
        let bytes = piggyback(budget: budget, used: used, limit: limit, into: &messages)
        return (messages, bytes)
    }
}
