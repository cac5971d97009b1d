import MeshCrypto
import NIOCore

/// An operator's order to take a cluster's share away until a wall-clock time, or to give it back early: the
/// record behind `zone-agent drain` and `undrain`.
///
/// Only the newest order (by `issuedAtMillis`) for one (cluster, route) counts, so an undrain beats the drain
/// before it and a replayed old drain cannot come back. An undrain is a record whose `untilMillis` is not after
/// its `issuedAtMillis`.
public struct DrainRecord: Hashable, Sendable {
    /// The cluster to drain.
    public var cluster: String
    /// The route id (`RouteSpec.id`) the drain is limited to; empty: every route.
    public var route: String
    /// Wall-clock milliseconds since the Unix epoch when the operator issued the order.
    public var issuedAtMillis: UInt64
    /// Wall-clock milliseconds at which the drain ends; not after `issuedAtMillis` for an undrain.
    public var untilMillis: UInt64

    public init(cluster: String, route: String = "", issuedAtMillis: UInt64, untilMillis: UInt64) {
        self.cluster = cluster
        self.route = route
        self.issuedAtMillis = issuedAtMillis
        self.untilMillis = untilMillis
    }

    /// Whether this record ends a drain rather than starting one.
    public var isUndrain: Bool { untilMillis <= issuedAtMillis }

    /// Whether the drain holds at `nowMillis`.
    public func isInForce(atMillis nowMillis: UInt64) -> Bool { !isUndrain && nowMillis < untilMillis }

    /// What the newest-wins rule compares: one order per (cluster, route).
    public var target: DrainTarget { DrainTarget(cluster: cluster, route: route) }
}

/// The cluster and route one drain order is about.
public struct DrainTarget: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var cluster: String
    public var route: String
    public init(cluster: String, route: String) {
        self.cluster = cluster
        self.route = route
    }
    public static func < (a: DrainTarget, b: DrainTarget) -> Bool { (a.cluster, a.route) < (b.cluster, b.route) }
    public var description: String { route.isEmpty ? cluster : "\(cluster) on \(route)" }
}

/// A drain order with the signature of an operator key that the trust roster lists under `operators`.
public struct SignedDrain: Hashable, Sendable {
    public var drain: DrainRecord
    public var keyID: KeyID
    public var signature: [UInt8]

    public init(drain: DrainRecord, keyID: KeyID, signature: [UInt8]) {
        self.drain = drain
        self.keyID = keyID
        self.signature = signature
    }

    /// Signs `drain` over its canonical encoding.
    public init(signing drain: DrainRecord, with signer: some MessageSigner) {
        self.init(drain: drain, keyID: signer.keyID, signature: signer.sign(WireEncoding.signedBytes(of: drain)))
    }

    /// The record alone in a packet: what `POST /v1/drains` carries.
    public var packet: [UInt8] { WireEncoding.encodePacketBytes([.drain(self)]) }

    /// The one signed drain of a packet (the body of `POST /v1/drains`), or why the bytes are not one.
    public static func decode(packet bytes: [UInt8]) throws(WireError) -> SignedDrain {
        let messages = try WireEncoding.decodePacket(bytes, limits: .datagram)
        guard messages.count == 1, case .drain(let signed) = messages[0] else {
            throw .badValue(field: "drain packet message count", value: UInt64(messages.count))
        }
        return signed
    }
}

/// The bounds every member applies to drain orders, the same everywhere so that members keep the same orders.
public enum DrainRules {
    /// The longest drain: 7 days. An undrain is kept this long after its issue (plus the grace), so every drain
    /// it overrides has ended before it is forgotten and a replay of one cannot come back.
    public static let maxDurationMillis: UInt64 = 7 * 24 * 3_600_000
    /// How long an order is kept after it stops mattering: 10 minutes, for members whose clocks lag.
    public static let graceMillis: UInt64 = 10 * 60_000
    /// Orders held at most: a flood of valid-looking orders cannot grow memory past this.
    public static let capacity = 256

    /// Until when (wall-clock ms) a member keeps `drain`: its end plus the grace for a drain; for an undrain, the
    /// end of the longest drain it may have overridden plus the grace.
    public static func keptUntil(_ drain: DrainRecord) -> UInt64 {
        let end = drain.isUndrain ? drain.issuedAtMillis &+ maxDurationMillis : drain.untilMillis
        return end &+ graceMillis
    }
}
