import Wire

/// The seeds a member joins through, and the order in which a member that knows no one tries them.
///
/// A seed name may stand for every pod of a headless Service, some of them gone: a member alone tries every seed
/// once, in a shuffled order, before any twice. The first pass goes at the probe rate, so a joiner whose first
/// seeds are down is in within a few periods; later passes go no faster than dead members are probed.
struct SeedRotation: Sendable {
    /// The seed addresses, this member's own excluded.
    private(set) var seeds: [PeerAddress] = []
    /// The seeds not tried yet in this pass.
    private var untried: [PeerAddress] = []
    /// Passes over the seeds in this spell of being alone.
    private(set) var passes = 0

    var isEmpty: Bool { seeds.isEmpty }

    /// Replaces the seeds (the shell re-resolves DNS names now and then); false when the set did not change.
    /// New addresses (pods replaced) deserve a fresh pass at the probe rate.
    mutating func replace(with seeds: [PeerAddress], own: PeerAddress) -> Bool {
        let seeds = seeds.filter { $0 != own }
        guard Set(seeds) != Set(self.seeds) else { return false }
        self.seeds = seeds
        untried.removeAll()
        passes = 0
        return true
    }

    /// Sets the seeds at join (no fresh pass: none began).
    mutating func set(_ seeds: [PeerAddress], own: PeerAddress) {
        self.seeds = seeds.filter { $0 != own }
    }

    /// The next seed of the current pass (a new shuffled pass begins when it is over), and how long to wait
    /// before the next try: `probeInterval` in the first pass, `deadProbeInterval` after.
    mutating func next(probeInterval: Duration, deadProbeInterval: Duration,
                       rng: inout some RandomNumberGenerator) -> (seed: PeerAddress, wait: Duration)? {
        if untried.isEmpty {
            untried = seeds.shuffled(using: &rng)
            passes += 1
        }
        guard let seed = untried.popLast() else { return nil }
        return (seed, passes <= 1 ? probeInterval : deadProbeInterval)
    }

    /// No longer alone: the next spell starts with a fresh pass.
    mutating func noteCompany() {
        guard passes > 0 else { return }
        passes = 0
        untried.removeAll()
    }
}
