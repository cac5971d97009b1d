import Wire

/// One endpoint of one service, without its health.
struct EndpointKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    var service: String
    var host: String
    var port: UInt16

    /// The text rendezvous hashing scores, the same on every agent.
    var description: String { "\(service)|\(host):\(port)" }

    static func < (a: EndpointKey, b: EndpointKey) -> Bool { (a.service, a.host, a.port) < (b.service, b.host, b.port) }
}

/// What this agent knows about its cluster's endpoints: all of them (from discovery), and the health of those it
/// probes itself (chosen by rendezvous hashing over the cluster's live agents). Pure: the agent feeds it.
struct LocalHealth: Sendable {
    let member: String
    let replicas: Int
    let fall: Int
    let rise: Int
    private(set) var endpoints: [EndpointKey] = []
    private(set) var assigned: [EndpointKey] = []
    private var counters: [EndpointKey: ProbeCounter] = [:]
    private var liveMembers: [String] = []

    init(member: String, replicas: Int, fall: Int, rise: Int) {
        self.member = member
        self.replicas = replicas
        self.fall = fall
        self.rise = rise
        self.liveMembers = [member]
    }

    /// Replaces the endpoint set (from discovery); returns true when it changed.
    mutating func setEndpoints(_ new: [EndpointKey]) -> Bool {
        let sorted = Array(Set(new)).sorted()
        guard sorted != endpoints else { return false }
        endpoints = sorted
        reassign()
        return true
    }

    /// Replaces the live agents of this cluster (from membership); returns true when this agent's share changed.
    mutating func setLiveMembers(_ members: [String]) -> Bool {
        let sorted = Array(Set(members + [member])).sorted()
        guard sorted != liveMembers else { return false }
        liveMembers = sorted
        let before = assigned
        reassign()
        return before != assigned
    }

    /// Records a probe result of an assigned endpoint; returns true when its health changed.
    mutating func record(_ key: EndpointKey, success: Bool) -> Bool {
        guard counters[key] != nil else { return false }   // no longer ours: a late result
        return counters[key]!.record(success: success)
    }

    /// The digest's endpoint list: our probed endpoints with their health, the rest as known but unprobed.
    var report: [EndpointHealth] {
        endpoints.map { key in
            EndpointHealth(service: key.service, host: key.host, port: key.port, state: counters[key]?.state ?? .unknown)
        }
    }

    private mutating func reassign() {
        assigned = endpoints.filter {
            ProberAssignment.isProber(member, of: $0.description, among: liveMembers, replicas: replicas)
        }
        // Endpoints handed to another agent are forgotten: if they come back to us, we judge them afresh.
        var kept: [EndpointKey: ProbeCounter] = [:]
        for key in assigned { kept[key] = counters[key] ?? ProbeCounter(fall: fall, rise: rise) }
        counters = kept
    }
}
