/// One address and port that currently backs a Service, with the conditions Kubernetes reports for it.
public struct DiscoveredEndpoint: Hashable, Sendable, CustomStringConvertible {
    /// The Service this endpoint belongs to.
    public var service: ServiceRef
    /// An IPv4 or IPv6 address (without brackets), or a host name for `FQDN` slices.
    public var host: String
    /// The port chosen by the watcher's ``PortSelector``.
    public var port: UInt16
    /// Kubernetes' readiness; an absent condition counts as ready, as the API documents.
    public var ready: Bool
    /// Whether the endpoint accepts traffic; an absent condition equals `ready`, as the API documents.
    public var serving: Bool
    /// Whether the pod behind the endpoint is shutting down; absent counts as not terminating.
    public var terminating: Bool
    /// The node the endpoint runs on, when the slice says.
    public var nodeName: String?
    /// The zone the endpoint runs in, when the slice says.
    public var zone: String?

    /// Creates an endpoint from its parts.
    public init(
        service: ServiceRef, host: String, port: UInt16, ready: Bool = true, serving: Bool = true,
        terminating: Bool = false, nodeName: String? = nil, zone: String? = nil
    ) {
        self.service = service
        self.host = host
        self.port = port
        self.ready = ready
        self.serving = serving
        self.terminating = terminating
        self.nodeName = nodeName
        self.zone = zone
    }

    /// Whether discovery hands this endpoint on as a candidate for traffic.
    ///
    /// The rule: an endpoint counts when it is `serving` and not `terminating`. Serving rather than
    /// ready, because the agent's own probes decide health and Kubernetes' readiness would only delay
    /// them; not terminating, because a pod that is shutting down is draining (typically `ready: false,
    /// serving: true, terminating: true`) and new traffic sent to it is traffic lost when it exits.
    public var isCandidate: Bool { serving && !terminating }

    /// `host:port` with IPv6 addresses in brackets, as a URL or a config file writes it.
    public var address: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// The address and the conditions, for logs.
    public var description: String {
        var flags: [String] = []
        if !ready { flags.append("not-ready") }
        if !serving { flags.append("not-serving") }
        if terminating { flags.append("terminating") }
        return flags.isEmpty ? address : "\(address) (\(flags.joined(separator: ", ")))"
    }
}

/// Which of a slice's ports an endpoint is reached on.
public enum PortSelector: Sendable, Hashable {
    /// The first TCP port of the slice.
    case first
    /// The port with this name; the first TCP port when no port has it.
    case named(String)

    /// Picks the port from a slice's port list, or nil when the slice offers no usable TCP port.
    func pick(from ports: [EndpointPort]) -> UInt16? {
        let tcp = ports.filter { ($0.protocol ?? "TCP") == "TCP" }
        if case .named(let wanted) = self, let match = tcp.first(where: { ($0.name ?? "") == wanted }) {
            return Self.validPort(match.port)
        }
        // A nil port means "all ports" in the API: there is no one number to dial, so skip to the next.
        for port in tcp {
            if let number = Self.validPort(port.port) { return number }
        }
        return nil
    }

    private static func validPort(_ value: Int?) -> UInt16? {
        guard let value, value > 0, value <= Int(UInt16.max) else { return nil }
        return UInt16(value)
    }
}

/// Turns the slices of one Service into the endpoints discovery reports.
enum EndpointSelection {
    /// The address types whose addresses can be dialled as they are.
    static let knownAddressTypes: Set<String> = ["IPv4", "IPv6", "FQDN"]

    /// The candidate endpoints of `slices`, merged across slices, deduplicated by host and port, sorted.
    ///
    /// When the same address and port appear in two slices (Kubernetes moves endpoints between slices
    /// non-atomically), the ready copy wins, so a brief overlap never hides a ready endpoint.
    static func endpoints(
        of service: ServiceRef, slices: some Sequence<EndpointSlice>, port selector: PortSelector
    ) -> [DiscoveredEndpoint] {
        var byAddress: [String: DiscoveredEndpoint] = [:]
        for slice in slices.sorted(by: { $0.name < $1.name }) {
            guard knownAddressTypes.contains(slice.addressType),
                  let port = selector.pick(from: slice.ports ?? [])
            else { continue }
            for endpoint in slice.endpoints ?? [] {
                let ready = endpoint.conditions?.ready ?? true
                let serving = endpoint.conditions?.serving ?? ready
                let terminating = endpoint.conditions?.terminating ?? false
                for host in endpoint.addresses where !host.isEmpty {
                    let candidate = DiscoveredEndpoint(
                        service: service, host: host, port: port, ready: ready, serving: serving,
                        terminating: terminating, nodeName: endpoint.nodeName, zone: endpoint.zone)
                    guard candidate.isCandidate else { continue }
                    if let existing = byAddress[candidate.address], existing.ready || !candidate.ready {
                        continue
                    }
                    byAddress[candidate.address] = candidate
                }
            }
        }
        return byAddress.values.sorted { ($0.host, $0.port) < ($1.host, $1.port) }
    }
}
