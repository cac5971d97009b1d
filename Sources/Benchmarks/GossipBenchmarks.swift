import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Gossip
import GossipSimulation
import Wire

/// Gossip figures from the simulation: dissemination time, failure detection, steady bandwidth and the cost of
/// simulating it. Usage: `Benchmarks gossip [N ...]` (default 100 1000 10000); `GOSSIP_SEED=S` runs another seed
/// (default: N itself), to see how much of a figure is the luck of one run.
///
/// Members run on every core (`SimulatedNetwork.workers`, windows of the shortest link delay; `GOSSIP_WORKERS=1` runs
/// one event at a time, with other draws of the same seed). `GOSSIP_PHASES=1` prints the CPU and memory spent by
/// each phase; `GOSSIP_CLUSTER_ONLY=1` goes from the set-up straight to the cluster killed, to profile it;
/// `GOSSIP_BURST=B` sets `gossipBurst` (1: memberlist's one datagram to a member a round).
///
/// Every member holds the whole membership, so the simulation holds N² member entries: about 64 bytes each once the
/// mesh is set up (6.4 GB at N = 10,000), but the peak comes when N/8 members are killed at once and every survivor
/// holds N/8 suspicions and their news, some 500 bytes each (at N = 10,000 the peak is about 11 GB, 110 bytes an
/// entry of the N²). A size that does not fit in the memory available is skipped with a note rather than run into
/// the out-of-memory killer.
enum GossipBenchmarks {
    static func run(arguments: [String]) {
        if arguments.first == "kill-cluster" {
            killCluster(seeds: arguments.dropFirst().first.flatMap(Int.init) ?? 20)
            return
        }
        if arguments.first == "loss" {
            let numbers = arguments.dropFirst().compactMap { Int($0) }
            lossyMesh(n: numbers.first ?? 200, seconds: numbers.dropFirst().first ?? 300, seeds: numbers.dropFirst(2).first ?? 1)
            return
        }
        let sizes = arguments.compactMap { Int($0) }
        print("gossip (simulated: 1 ms ± 0.5 ms links, 1% loss, lan profile)")
        for n in sizes.isEmpty ? [100, 1000, 10_000] : sizes {
            let bytesPerEntry: UInt64 = 135   // the peak per entry measured at N = 10,000 (about 120), and a margin
            let needed = 20_000_000 + UInt64(n) * UInt64(n) * bytesPerEntry
            if let available = availableMemory(), needed > available {
                print("N = \(grouped(Double(n))): skipped, needs about \(needed >> 30) GB and \(available >> 30) GB is available")
                continue
            }
            measure(n: n)
        }
    }

    /// MemAvailable from /proc/meminfo, in bytes; nil where there is no such file.
    private static func availableMemory() -> UInt64? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let fields = line.split(separator: " ")
            if fields.count >= 2, let kB = UInt64(fields[1]) { return kB * 1024 }
        }
        return nil
    }

    private static func seconds(_ d: Duration) -> Double {
        let c = d.components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }

    private static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let index = min(sorted.count - 1, max(0, Int((Double(sorted.count) * p).rounded(.up)) - 1))
        return sorted[index]
    }

    private static func format(_ value: Double, _ unit: String) -> String {
        let rounded = (value * 1000).rounded() / 1000
        return "\(rounded) \(unit)"
    }

    private static func measure(n: Int) {
        let wallStart = DispatchTime.now().uptimeNanoseconds
        let cpuStart = cpuSeconds()
        let seed = ProcessInfo.processInfo.environment["GOSSIP_SEED"].flatMap(UInt64.init) ?? UInt64(n)
        // GOSSIP_BURST=1 pushes one datagram to a member a gossip round, as memberlist does (`gossipBurst`).
        var settings = GossipSettings()
        if let burst = ProcessInfo.processInfo.environment["GOSSIP_BURST"].flatMap(Int.init) { settings.gossipBurst = max(1, burst) }
        let net = SimulatedNetwork(count: n, settings: settings, seed: seed,
                                   link: .init(latency: .milliseconds(1), jitter: .microseconds(500), loss: 0.01),
                                   clusters: 8, crypto: .checksum, encodePackets: false)
        // Members run on every core (`SimulatedNetwork.workers`); GOSSIP_WORKERS=1 runs one event at a time.
        net.workers = ProcessInfo.processInfo.environment["GOSSIP_WORKERS"].flatMap(Int.init) ?? ProcessInfo.processInfo.activeProcessorCount
        var accepted: [Int: Duration] = [:]
        var watched: SignedDigest?
        // Per killed member (by name), when each observer first held it dead, and first held it not alive.
        var deadSeen: [String: FirstSeen] = [:]
        var firstSuspect: [String: Duration] = [:]
        var notAlive: [String: FirstSeen] = [:]
        var falseDeaths = 0
        var killed: Set<String> = []
        func kill(_ name: String) {
            killed.insert(name)
            deadSeen[name] = FirstSeen(observers: n)
            notAlive[name] = FirstSeen(observers: n)
        }
        net.onEvent = { event in
            switch event {
            case .digestAccepted(let observer, let digest, let at):
                if digest == watched, accepted[observer] == nil { accepted[observer] = at }
            case .memberChanged(let observer, let member, _, let at):
                guard member.state != .alive else { return }
                guard killed.contains(member.name) else {
                    if member.state == .dead { falseDeaths += 1 }
                    return
                }
                if member.state == .suspect, firstSuspect[member.name] == nil { firstSuspect[member.name] = at }
                notAlive[member.name]?.note(observer, at: at)
                if member.state == .dead { deadSeen[member.name]?.note(observer, at: at) }
            case .recordRejected, .drainAccepted, .cutOff: break
            }
        }
        net.bootstrapFullView()
        let setup = Double(DispatchTime.now().uptimeNanoseconds - wallStart) / 1e9
        // Each figure is printed as soon as it is measured: at N = 10,000 the run takes a quarter of an hour.
        func figure(_ name: String, _ value: String, aim: String = "") {
            // GOSSIP_PHASES=1 shows the cost of each phase.
            if ProcessInfo.processInfo.environment["GOSSIP_PHASES"] != nil {
                print("    [CPU so far \(format(cpuSeconds() - cpuStart, "s")), peak RSS \(format(peakResidentMegabytes(), "MB"))]")
            }
            report(name, value, aim: aim)
            fflush(nil)   // every output stream: stdout is the one written to
        }
        print("N = \(grouped(Double(n))), seed \(seed) (mesh set up in \(format(setup, "s")), \(format(cpuSeconds() - cpuStart, "s")) of CPU, peak RSS \(format(peakResidentMegabytes(), "MB")))")

        // GOSSIP_CLUSTER_ONLY=1 goes straight to the cluster killed (to profile it).
        if ProcessInfo.processInfo.environment["GOSSIP_CLUSTER_ONLY"] == nil {
            // Steady state: probes, acks and periodic state syncs, nothing new to say. Every member opens its first
            // state sync 30–60 s after it started (all at once here), and one every 30 s · ⌈N / 32⌉ after that
            // (`pushPullScale`: 16 minutes at N = 1,000, so a window of minutes holds none, or at N = 100 every
            // member's second one at once). So the syncs are counted apart: the bytes of the first ones, one per
            // member, spread over the period; and the datagrams in a window from 120 to 180 s, when what the
            // first syncs set going has died down. (The figure was taken from 60 to 240 s before, which held no
            // sync from N = 1,000 up but the tail of the first ones: 134 B/s at N = 10,000.)
            net.run(for: .milliseconds(60_010))
            let syncBytesPerMember = Double(net.syncBytesSent) / Double(n)
            net.run(for: .seconds(60))
            func datagramBytes() -> UInt64 { net.bytesSent.reduce(0, +) - net.syncBytesSent }
            let before = datagramBytes()
            let window: Duration = .seconds(60)
            net.run(for: window)
            let datagramRate = Double(datagramBytes() - before) / Double(n) / seconds(window)
            let syncPeriod = seconds(net.settings.syncInterval) * Double(GossipFormulas.pushPullScale(n: n))
            let syncRate = syncBytesPerMember / syncPeriod
            figure("steady bytes sent per member per second", format(datagramRate + syncRate, "B/s")
                   + " (datagrams \(format(datagramRate, "B/s")), state syncs \(format(syncRate, "B/s")): \(format(syncBytesPerMember / 1000, "kB")) a sync every \(format(syncPeriod, "s")))",
                   aim: "≤ 1,024 B/s, flat in N")

            // Dissemination of one new digest.
            let origin = n / 3
            let endpoints = (0..<4).map { EndpointHealth(service: "gateway-demo/service1", host: "10.0.0.\($0)", port: 8080, state: .healthy) }
            let published = net.elapsed
            watched = net.publishDigest(from: origin, version: 1, endpoints: endpoints)
            // The origin holds it from the start; the others must receive it.
            let receivers = n - 1
            _ = net.run(until: { accepted.count >= receivers }, step: .milliseconds(10), limit: .seconds(20))
            let spread = accepted.values.map { seconds($0 - published) }.sorted()
            let to999 = spread.count >= Int((Double(receivers) * 0.999).rounded(.up)) ? spread[Int((Double(receivers) * 0.999).rounded(.up)) - 1] : .infinity
            figure("digest held by 99.9% of members", format(to999, "s"), aim: n == 1000 ? "≤ 1 s" : "")
            figure("digest held by all members", format(spread.last ?? .infinity, "s") + " (\(spread.count) of \(receivers) others)")

            // Failure detection: nine members killed one after another; per survivor, the time until it saw each dead.
            // (When a victim is first probed is luck: about one member probes it per period, so a gap of k periods
            // has probability e^-k; nine victims keep one unlucky gap from deciding the median.)
            var detection: [Double] = []
            var suspicion: [Double] = []
            for victim in (1...9).map({ $0 * n / 10 }) {
                let name = SimulatedNetwork.name(of: victim)
                kill(name)
                let at = net.elapsed
                net.kill(victim)
                let survivors = n - killed.count
                _ = net.run(until: { deadSeen[name]!.count >= survivors }, step: .milliseconds(20), limit: .seconds(60))
                detection += deadSeen[name]!.times.map { $0 - seconds(at) }
                if let first = firstSuspect[name] { suspicion.append(seconds(first - at)) }
                net.run(for: .seconds(5))
            }
            detection.sort()
            suspicion.sort()
            figure("failure detection, median", format(percentile(detection, 0.5), "s"), aim: n == 1000 ? "≤ 3 s" : "")
            figure("failure detection, p99", format(percentile(detection, 0.99), "s"))
            figure("first suspicion after a kill, median of 9 victims", format(percentile(suspicion, 0.5), "s") + " (max \(format(suspicion.last ?? .nan, "s")))")
        } else {
            net.run(for: .seconds(5))
        }

        // A whole cluster (one eighth of the mesh) killed at once: per survivor, the time until none of its members
        // is alive any more (suspect or dead), which is when a gateway stops routing there.
        let cluster = (0..<n).filter { $0 % 8 == 7 && !killed.contains(SimulatedNetwork.name(of: $0)) }
        let clusterNames = cluster.map { SimulatedNetwork.name(of: $0) }
        for name in clusterNames { kill(name) }
        let clusterAt = net.elapsed
        for i in cluster { net.kill(i) }
        let survivors = (0..<n).filter { !net.isKilled($0) }
        _ = net.run(until: { clusterNames.allSatisfy { notAlive[$0]!.count >= survivors.count } },
                    step: .milliseconds(20), limit: .seconds(60))
        var clusterDown: [Double] = survivors.map { observer in
            clusterNames.map { name in notAlive[name]![observer].map { $0 - seconds(clusterAt) } ?? .infinity }.max() ?? .infinity
        }
        clusterDown.sort()
        figure("cluster of \(cluster.count) killed: none alive, median", format(percentile(clusterDown, 0.5), "s"), aim: "≤ 1.5 s")
        figure("cluster of \(cluster.count) killed: none alive, p99", format(percentile(clusterDown, 0.99), "s"))
        // What the figures above are made of: when each member of the cluster was first suspected by anyone (no view
        // can lose it sooner), and how long its news took from there to the last survivor.
        let firstSuspected = clusterNames.map { firstSuspect[$0].map { seconds($0 - clusterAt) } ?? .infinity }
        let spread = zip(clusterNames, firstSuspected).map { name, first in
            survivors.map { notAlive[name]![$0].map { $0 - seconds(clusterAt) } ?? .infinity }.max()! - first
        }
        figure("cluster of \(cluster.count) killed: last of it first suspected", format(firstSuspected.max() ?? .nan, "s"))
        figure("cluster of \(cluster.count) killed: one's news to all, median", format(percentile(spread.sorted(), 0.5), "s"))
        _ = net.run(until: { clusterNames.allSatisfy { deadSeen[$0]!.count >= survivors.count } },
                    step: .milliseconds(50), limit: .seconds(60))
        let clusterDead = clusterNames.flatMap { name in deadSeen[name]!.times.map { $0 - seconds(clusterAt) } }.sorted()
        let wall = Double(DispatchTime.now().uptimeNanoseconds - wallStart) / 1e9
        let cpu = cpuSeconds() - cpuStart
        figure("cluster of \(cluster.count) killed: all dead, median", format(percentile(clusterDead, 0.5), "s"))
        figure("false deaths", "\(falseDeaths)", aim: "0")
        figure("wall time", format(wall, "s") + " for \(format(seconds(net.elapsed), "s")) virtual")
        figure("CPU time", format(cpu, "s") + " (the wall time is longer on a shared machine)")
        figure("peak RSS of the process so far", format(peakResidentMegabytes(), "MB"), aim: n == 10_000 ? "≤ 12 GB" : "")
    }

    /// User and system time of this process, in seconds.
    private static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func s(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return s(usage.ru_utime) + s(usage.ru_stime)
    }

    /// The process's peak resident set, in MB (the kernel reports it in kB).
    private static func peakResidentMegabytes() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }

    /// When each observer first saw one member in some state: seconds of virtual time, NaN until then. An array
    /// per member rather than a dictionary, which at N = 10,000 held some 25 M entries for the cluster killed.
    struct FirstSeen {
        private var at: [Float]
        private(set) var count = 0

        init(observers: Int) { at = Array(repeating: .nan, count: observers) }

        mutating func note(_ observer: Int, at time: Duration) {
            guard observer < at.count, at[observer].isNaN else { return }
            at[observer] = Float(GossipBenchmarks.seconds(time))
            count += 1
        }

        subscript(observer: Int) -> Double? { at[observer].isNaN ? nil : Double(at[observer]) }

        var times: [Double] { at.filter { !$0.isNaN }.map(Double.init) }
    }

    /// `Benchmarks gossip loss [N] [SECONDS] [SEEDS]` (200, 300, 1): a mesh of N (set up full, as `measure` does) at
    /// 10% loss for SECONDS, per seed: the suspicions and the false deaths, which must stay 0 (the guard of any
    /// change to how suspicions travel, at a size the tests cannot afford).
    static func lossyMesh(n: Int, seconds: Int, seeds: Int) {
        var suspicions = 0, deaths = 0
        for seed in 1...max(1, seeds) {
            let net = SimulatedNetwork(count: n, seed: UInt64(seed), link: .init(latency: .milliseconds(1), jitter: .microseconds(500), loss: 0.1),
                                       clusters: 8, crypto: .checksum, encodePackets: false)
            net.workers = ProcessInfo.processInfo.activeProcessorCount
            net.onEvent = { event in
                guard case .memberChanged(_, let member, _, _) = event else { return }
                if member.state == .suspect { suspicions += 1 }
                if member.state == .dead { deaths += 1 }
            }
            net.bootstrapFullView()
            net.run(for: .seconds(Int64(seconds)))
        }
        report("lan, N = \(n), 10% loss, \(seeds) × \(seconds) s", "\(suspicions) suspicions, \(deaths) false deaths", aim: "0 deaths")
    }

    /// `Benchmarks gossip kill-cluster [SEEDS]`: the drill's shape (two clusters of three agents and a gateway-like
    /// seventh member, m0…m6 in cluster i mod 2), c1 killed at once, `SEEDS` seeds (20) at the lan and fast
    /// profiles: per surviving observer, the time until none of c1 is alive in its view (when a gateway moves its
    /// traffic), no loss; then ten simulated minutes at 10% loss, counting suspicions, deaths and spells during
    /// which a live cluster had no alive member in some view (a false failover).
    static func killCluster(seeds: Int) {
        print("kill-cluster (simulated: 3 + 3 agents and a gateway-like member, 1 ms ± 0.5 ms links)")
        for profile in [GossipProfile.lan, .fast] {
            var perObserver: [Double] = []
            for seed in 1...max(1, seeds) {
                let net = SimulatedNetwork(count: 7, settings: GossipSettings(profile: profile), seed: UInt64(seed))
                var gone: [Int: [String: Duration]] = [:]
                var measuring = false
                net.onEvent = { event in
                    guard measuring, case .memberChanged(let observer, let member, _, let at) = event, member.state != .alive,
                          gone[observer]?[member.name] == nil else { return }
                    gone[observer, default: [:]][member.name] = at
                }
                net.joinAll()
                _ = net.run(until: { (0..<7).allSatisfy { net.core($0).activeMemberCount == 6 } }, limit: .seconds(30))
                net.run(for: .seconds(3))
                measuring = true
                let killedAt = net.elapsed
                for i in [1, 3, 5] { net.kill(i) }
                net.run(for: .seconds(6))
                for observer in [0, 2, 4, 6] {
                    perObserver.append(["m1", "m3", "m5"].map { name in
                        gone[observer]?[name].map { seconds($0 - killedAt) } ?? 99
                    }.max() ?? 99)
                }
            }
            perObserver.sort()
            report("\(profile): none of c1 alive, median of \(perObserver.count)", format(percentile(perObserver, 0.5), "s")
                   + " (p90 \(format(percentile(perObserver, 0.9), "s")), max \(format(perObserver.last ?? .nan, "s")))",
                   aim: profile == .lan ? "≤ 1.0 s" : "≤ 0.3 s")
        }
        for profile in [GossipProfile.lan, .fast] {
          var suspicions = 0, deaths = 0, outages = 0
          for seed in UInt64(41)..<UInt64(41 + max(1, seeds / 4)) {
            let net = SimulatedNetwork(count: 7, settings: GossipSettings(profile: profile), seed: seed, link: .init(loss: 0.1))
            net.encodePackets = false
            var views: [Int: [String: MemberState]] = [:]
            func down(_ observer: Int, _ cluster: Int) -> Bool {
                let names = (0..<7).filter { $0 % 2 == cluster && $0 != observer }.map(SimulatedNetwork.name(of:))
                guard let view = views[observer], names.allSatisfy({ view[$0] != nil }) else { return false }
                return names.allSatisfy { view[$0] != .alive }
            }
            net.onEvent = { event in
                guard case .memberChanged(let observer, let member, _, _) = event else { return }
                let cluster = Int(member.name.dropFirst())! % 2
                let was = down(observer, cluster)
                views[observer, default: [:]][member.name] = member.state
                if member.state == .suspect { suspicions += 1 }
                if member.state == .dead { deaths += 1 }
                if !was, down(observer, cluster) { outages += 1 }
            }
            net.joinAll()
            net.run(for: .seconds(600))
          }
          report("\(profile), 10% loss, \(max(1, seeds / 4)) × 600 s", "\(suspicions) suspicions, \(deaths) deaths, \(outages) live clusters out of a view",
                 aim: "0 deaths, 0 out")
        }
        // The mesh of the simulation test that guards against false deaths under loss (SimulationTests, N = 50).
        let net = SimulatedNetwork(count: 50, seed: 21, link: .init(loss: 0.1))
        net.encodePackets = false
        var suspicions = 0, deaths = 0
        net.onEvent = { event in
            guard case .memberChanged(_, let member, _, _) = event else { return }
            if member.state == .suspect { suspicions += 1 }
            if member.state == .dead { deaths += 1 }
        }
        net.joinAll()
        net.run(for: .seconds(600))
        report("lan, N = 50, 10% loss, 600 s", "\(suspicions) suspicions, \(deaths) deaths", aim: "0 deaths")
    }
}
