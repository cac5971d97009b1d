// Backpressure on a channel's reads, as the proxy's three handlers apply it: a client whose upstream cannot take
// more, an upstream whose client cannot, and the small server's connection whose answers are not being read.

/// Holds a channel's `read()` calls while its bytes have nowhere to go, and lets the one it held through on release.
///
/// NIO asks for a read once per batch; a held request is remembered, not repeated, so on release exactly one read
/// is issued, and only if one was asked for meanwhile. Pure: the handler passes the result on to its context.
struct ReadHold {
    /// Whether reads are held now.
    private(set) var isHeld = false
    private var pending = false

    /// A `read()` asked for: true when it goes through now; otherwise it is remembered.
    mutating func admit() -> Bool {
        if isHeld { pending = true }
        return !isHeld
    }

    /// Holds or releases reads; true when a read held meanwhile must be issued now.
    mutating func hold(_ hold: Bool) -> Bool {
        isHeld = hold
        guard !hold, pending else { return false }
        pending = false
        return true
    }

    /// Stops holding without issuing the held read: the connection is being closed.
    mutating func end() { isHeld = false }
}
