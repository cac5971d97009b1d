import GossipNIO
import Prometheus
import Synchronization

/// The gossip transport's own counters (bytes, packets, state syncs, drops), copied from
/// `GossipService.currentCounters()` every few seconds.
final class GossipTransportMetrics: Sendable {
    let bytesSent: Counter
    let bytesReceived: Counter
    let packetsSent: Counter
    let packetsReceived: Counter
    let syncsCompleted: Counter
    let syncsFailed: Counter
    private let registry: PrometheusCollectorRegistry
    /// Drop reasons seen so far, each with its counter; the well-known ones are made at start.
    private let dropped: Mutex<[String: Counter]>

    /// The drop reasons the transport names in `GossipCounters.dropped` (the inbound filter's, the seal's, the
    /// wire decoder's, state sync's and the verifier's), made at start so each exists at 0. A reason not listed
    /// here still counts, from its first drop on.
    static let knownDropReasons = [
        "too_short", "too_large", "bad_prefix", "over_budget", "over_shared_budget", "backlog", "bad_sender",
        "open_failed", "seal_stale", "seal_future", "replayed", "sync_refused", "sync_no_hello",
        "truncated", "bad_magic", "unsupported_version", "unknown_type", "invalid_utf8", "bad_value", "trailing_bytes",
        "non_canonical", "overlong_varint",
    ] + MeshMetrics.rejectionReasons.map { "rejected_" + $0 }

    static let droppedHelp = "Gossip packets and state-sync frames dropped, by reason."

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        let bytes = "Gossip bytes over UDP and state-sync streams, seals included."
        bytesSent = registry.counter("zone_agent_gossip_bytes_total", [("direction", "sent")], help: bytes)
        bytesReceived = registry.counter("zone_agent_gossip_bytes_total", [("direction", "received")], help: bytes)
        let packets = "Gossip datagrams, dropped ones included."
        packetsSent = registry.counter("zone_agent_gossip_packets_total", [("direction", "sent")], help: packets)
        packetsReceived = registry.counter("zone_agent_gossip_packets_total", [("direction", "received")], help: packets)
        let syncs = "State syncs (push-pull over TCP), as initiator or responder, by result."
        syncsCompleted = registry.counter("zone_agent_state_syncs_total", [("result", "completed")], help: syncs)
        syncsFailed = registry.counter("zone_agent_state_syncs_total", [("result", "failed")], help: syncs)
        dropped = Mutex(Dictionary(uniqueKeysWithValues: Self.knownDropReasons.map { reason in
            (reason, registry.counter("zone_agent_packets_dropped_total", [("reason", reason)], help: Self.droppedHelp))
        }))
    }

    /// Adds what the transport counted since `previous`. There is no sum over the reasons: that is
    /// `sum(zone_agent_packets_dropped_total)`.
    func add(_ now: GossipCounters, since previous: GossipCounters) {
        func add(_ counter: Counter, _ a: UInt64, _ b: UInt64) {
            let delta = a &- b
            if delta > 0 { counter.increment(by: Int64(truncatingIfNeeded: delta)) }
        }
        add(bytesSent, now.bytesSent, previous.bytesSent)
        add(bytesReceived, now.bytesReceived, previous.bytesReceived)
        add(packetsSent, now.packetsSent, previous.packetsSent)
        add(packetsReceived, now.packetsReceived, previous.packetsReceived)
        add(syncsCompleted, now.syncsCompleted, previous.syncsCompleted)
        add(syncsFailed, now.syncsFailed, previous.syncsFailed)
        for (reason, count) in now.dropped where count != previous.dropped[reason] ?? 0 {
            add(droppedCounter(reason), count, previous.dropped[reason] ?? 0)
        }
    }

    private func droppedCounter(_ reason: String) -> Counter {
        dropped.withLock { counters in
            if let counter = counters[reason] { return counter }
            let counter = registry.counter("zone_agent_packets_dropped_total", [("reason", reason)], help: Self.droppedHelp)
            counters[reason] = counter
            return counter
        }
    }
}
