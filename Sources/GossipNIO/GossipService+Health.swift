import Gossip
import Wire

/// What the transport knows about this member's own health: load it is shedding (fed to Lifeguard's local health
/// score), addresses whose packets no key opens, and a mesh key that cannot be right.
extension GossipService {
    /// Counts a packet no key opened, and names its sender in the log once per interval.
    func noteUndecryptable(from sender: PeerAddress) {
        unopenedSinceOpened += 1
        let now = clock.now()
        guard let count = undecryptable.record(sender, now: now) else { return }
        let what = sender.port == 0 ? "state-sync connections from \(sender.hostText)" : "packets from \(sender)"
        logger.warning("\(what) open with no key in the ring: a member with another mesh key or mesh name?",
                       metadata: ["source": "\(sender)", "packets": "\(count)"])
    }

    /// Tells the core when this member is shedding load: the filter dropped datagrams over a budget, or the lanes
    /// were full. At most twice a probe interval: an answered probe lowers the score by one a period, so this makes
    /// it climb while the load lasts, and this member's timeouts stretch instead of it accusing members whose acks
    /// it could not read in time. Once the load is gone, answered probes bring the score back down.
    func noteLoad(now: ContinuousClock.Instant) {
        let shed = filterStats.snapshot().shed + lanes.droppedForBacklog
        guard shed > shedSeen else { return }
        if let last = lastOverloadAt, now - last < settings.probeInterval / 2 { return }
        let newly = shed - shedSeen
        shedSeen = shed
        lastOverloadAt = now
        member?.noteOverload(now: now)
        shedSinceLog += newly
        if let logged = lastShedLog, now - logged < transport.dropLogInterval { return }
        logger.warning("shedding gossip packets under load: this member slows down rather than suspect others",
                       metadata: ["shed": "\(shedSinceLog)", "localHealth": "\(core?.localHealthScore ?? 0)"])
        lastShedLog = now
        shedSinceLog = 0
    }

    /// Reports a member that cannot talk to the mesh for a reason the transport can see: a mesh key that opens
    /// none of what it hears, or that its peers cannot open. Logged loudly once when it starts, and when it ends.
    func checkTransport(now: ContinuousClock.Instant) {
        var found: String?
        if transport.keyring != nil, let core, core.members.allSatisfy({ !$0.state.isActive }),
           now - max(startedAt, lastOpenedAt ?? startedAt) >= transport.keyProblemAfter {
            if !peersThatCannotOpen.isEmpty {
                let peers = peersThatCannotOpen.sorted().prefix(3).map(\.description).joined(separator: ", ")
                found = "alone in the mesh: \(peers) cannot open our packets; keys.mesh or the mesh name differs from theirs"
            } else if unopenedSinceOpened > 0 {
                found = "alone in the mesh: none of the \(unopenedSinceOpened) sealed packets received lately opened with our mesh key; keys.mesh or the mesh name differs from the other members'"
            }
        }
        guard found != problem else { return }
        if let found {
            logger.error("\(found)")
        } else {
            logger.notice("the mesh transport problem is over")
        }
        problem = found
    }
}
