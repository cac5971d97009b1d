import Wire

/// The newest verified drain order of every (cluster, route), bounded in count and in time.
///
/// Newest is by issue time, ties broken by the end time and then the signature's bytes, so every member keeps the
/// same order whatever the arrival order. Orders are forgotten at `DrainRules.keptUntil` (an undrain long enough
/// that no drain it overrode can come back), and beyond `DrainRules.capacity` the order forgotten first is the
/// one that would be forgotten soonest anyway.
struct DrainStore: Sendable {
    private(set) var orders: [DrainTarget: SignedDrain] = [:]
    let capacity: Int

    init(capacity: Int = DrainRules.capacity) {
        self.capacity = capacity
    }

    /// Every order held, sorted by cluster and route.
    var all: [SignedDrain] { orders.sorted { $0.key < $1.key }.map(\.value) }

    /// Whether `a` supersedes `b` (orders for one target).
    static func supersedes(_ a: SignedDrain, _ b: SignedDrain) -> Bool {
        if a.drain.issuedAtMillis != b.drain.issuedAtMillis { return a.drain.issuedAtMillis > b.drain.issuedAtMillis }
        if a.drain.untilMillis != b.drain.untilMillis { return a.drain.untilMillis > b.drain.untilMillis }
        return b.signature.lexicographicallyPrecedes(a.signature)
    }

    /// Whether `signed` would change what is held at `nowMillis`: newer than the order held for its target and not
    /// past the time it would be kept. Duplicates and replays are the common case: dropped before any verification.
    func isNews(_ signed: SignedDrain, nowMillis: UInt64) -> Bool {
        guard nowMillis < DrainRules.keptUntil(signed.drain) else { return false }
        guard let held = orders[signed.drain.target] else { return true }
        return Self.supersedes(signed, held)
    }

    /// Stores a verified order that `isNews`; false when the bound made it the one to forget at once.
    mutating func store(_ signed: SignedDrain, nowMillis: UInt64) -> Bool {
        forget(nowMillis: nowMillis)
        orders[signed.drain.target] = signed
        while orders.count > capacity, let first = orders.min(by: { Self.forgottenFirst($0.value, $1.value) }) {
            orders[first.key] = nil
        }
        return orders[signed.drain.target] == signed
    }

    /// Forgets the orders kept long enough.
    mutating func forget(nowMillis: UInt64) {
        guard orders.values.contains(where: { DrainRules.keptUntil($0.drain) <= nowMillis }) else { return }
        orders = orders.filter { DrainRules.keptUntil($0.value.drain) > nowMillis }
    }

    /// The order in which the bound forgets: soonest kept-until first, then the oldest issue, then by target.
    private static func forgottenFirst(_ a: SignedDrain, _ b: SignedDrain) -> Bool {
        let ka = DrainRules.keptUntil(a.drain), kb = DrainRules.keptUntil(b.drain)
        if ka != kb { return ka < kb }
        if a.drain.issuedAtMillis != b.drain.issuedAtMillis { return a.drain.issuedAtMillis < b.drain.issuedAtMillis }
        return a.drain.target < b.drain.target
    }
}
