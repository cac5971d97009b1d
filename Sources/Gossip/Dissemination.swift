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

    /// Fills each datagram of `fills` up to `budget` bytes (header excluded) with pending news, each update into at
    /// most one of them and counted as one transmission of at most `limit`: membership first, but at most
    /// `membershipShare` of a datagram while digests wait, then digests, then more membership news where room is
    /// left. Returns the bytes added. (Appended in place: a datagram's worth of news copied from array to array was
    /// a tenth of a member's work while a cluster failed.)
    @discardableResult
    mutating func piggyback(into fills: inout [TransmitQueue.Fill], budget: Int, limit: Int) -> Int {
        guard !isEmpty else { return 0 }
        guard !digests.isEmpty else { return membership.take(into: &fills, budget: budget, limit: limit) }
        let share = Int(Double(budget) * membershipShare)
        // What the first pass took is passed over by the last: each update goes once in a datagram. (Taken again,
        // a queue shorter than the share went twice in every datagram, and spent two of its sends on one.)
        var first: Set<Int32>? = []
        var bytes = membership.take(into: &fills, budget: budget, limit: limit, cap: share, skipping: [], noting: &first)
        bytes += digests.take(into: &fills, budget: budget, limit: limit)
        // Only where a few updates still fit: a datagram with less room would mostly scan the queue for nothing.
        bytes += membership.take(into: &fills, budget: budget, limit: limit, openingRoom: 33, skipping: first ?? [])
        return bytes
    }

    /// The news that fits one datagram whose control messages take `used` bytes of `budget`, and the bytes it takes.
    mutating func piggyback(budget: Int, used: Int, limit: Int) -> (messages: [GossipMessage], bytes: Int) {
        var fills = [TransmitQueue.Fill(bytes: used)]
        let bytes = piggyback(into: &fills, budget: budget, limit: limit)
        return (fills[0].messages, bytes)
    }
}
