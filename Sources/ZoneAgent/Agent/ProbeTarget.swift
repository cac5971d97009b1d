import KubernetesDiscovery
import Wire

/// One endpoint of one service as the agent knows it: what it probes and reports, without its health. The agent's
/// own type for an endpoint; the configuration's static list and discovery's EndpointSlices convert into it here,
/// and it converts into the wire's `EndpointHealth` here, one conversion at each border.
struct ProbeTarget: Hashable, Sendable, Comparable, CustomStringConvertible {
    var service: String
    var host: String
    var port: UInt16

    /// The text rendezvous hashing scores, the same on every agent.
    var description: String { "\(service)|\(host):\(port)" }

    static func < (a: ProbeTarget, b: ProbeTarget) -> Bool { (a.service, a.host, a.port) < (b.service, b.host, b.port) }

    init(service: String, host: String, port: UInt16) {
        self.service = service
        self.host = host
        self.port = port
    }

    /// An endpoint of `endpoints.static` (its port is checked to be 1–65535 when the configuration is read).
    init(_ configured: Config.StaticEndpoint) {
        self.init(service: configured.service, host: configured.address.host, port: UInt16(clamping: configured.address.port))
    }

    /// An endpoint found in an EndpointSlice.
    init(_ discovered: DiscoveredEndpoint) {
        self.init(service: "\(discovered.service.namespace)/\(discovered.service.name)", host: discovered.host, port: discovered.port)
    }

    /// The endpoint as a digest reports it, with `state`.
    func health(_ state: EndpointHealthState) -> EndpointHealth {
        EndpointHealth(service: service, host: host, port: port, state: state)
    }
}
