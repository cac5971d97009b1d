import WeightTable

/// The file-based EDS document Envoy reads: a `DiscoveryResponse` (envoy.service.discovery.v3) holding one
/// `ClusterLoadAssignment` (envoy.config.endpoint.v3), in the proto3 JSON mapping with the protos' own field
/// names. Typed, so a misspelt field is a compile error here rather than a file Envoy refuses; the test suite
/// parses what these encode with Envoy's own message definitions (scripts/deploy-check.py), unknown fields
/// being errors.
struct EDSDiscoveryResponse: Encodable, Equatable {
    /// Table version and hash: Envoy logs it, and it changes whenever the assignment does.
    var versionInfo: String
    var resources: [EDSClusterLoadAssignment]

    enum CodingKeys: String, CodingKey {
        case versionInfo = "version_info"
        case resources
    }
}

/// One service's endpoints, one locality per cluster that can serve.
struct EDSClusterLoadAssignment: Encodable, Equatable {
    /// The `Any` type URL the resource is unpacked as.
    static let typeURL = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"

    var clusterName: String
    var endpoints: [EDSLocalityEndpoints]
    /// Always 100 (no overprovisioning): zone-agent has already applied its own partial-capacity rule to the
    /// locality weights, and Envoy's default of 140 would apply it a second time.
    var overprovisioningFactor: UInt32 = 100

    enum CodingKeys: String, CodingKey {
        case type = "@type"
        case clusterName = "cluster_name"
        case endpoints
        case policy
    }

    enum PolicyKeys: String, CodingKey {
        case overprovisioningFactor = "overprovisioning_factor"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.typeURL, forKey: .type)
        try container.encode(clusterName, forKey: .clusterName)
        try container.encode(endpoints, forKey: .endpoints)
        var policy = container.nestedContainer(keyedBy: PolicyKeys.self, forKey: .policy)
        try policy.encode(overprovisioningFactor, forKey: .overprovisioningFactor)
    }
}

/// A cluster of the mesh as an Envoy locality: its zone field carries the cluster id, its weight the
/// cluster's effective weight.
struct EDSLocalityEndpoints: Encodable, Equatable {
    var zone: String
    /// ≥ 1: Envoy refuses a locality weight of 0, so clusters without weight are left out instead.
    var loadBalancingWeight: UInt32
    var lbEndpoints: [EDSLbEndpoint]

    enum CodingKeys: String, CodingKey {
        case locality
        case loadBalancingWeight = "load_balancing_weight"
        case lbEndpoints = "lb_endpoints"
    }

    enum LocalityKeys: String, CodingKey { case zone }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        var locality = container.nestedContainer(keyedBy: LocalityKeys.self, forKey: .locality)
        try locality.encode(zone, forKey: .zone)
        try container.encode(loadBalancingWeight, forKey: .loadBalancingWeight)
        try container.encode(lbEndpoints, forKey: .lbEndpoints)
    }
}

/// One endpoint of a locality, always `HEALTHY`: endpoints zone-agent does not trust are not in the file.
struct EDSLbEndpoint: Encodable, Equatable {
    var address: String
    var port: UInt16
    /// Relative inside the locality, ≥ 1.
    var loadBalancingWeight: UInt32

    enum CodingKeys: String, CodingKey {
        case endpoint
        case healthStatus = "health_status"
        case loadBalancingWeight = "load_balancing_weight"
    }

    enum EndpointKeys: String, CodingKey { case address }
    enum AddressKeys: String, CodingKey { case socketAddress = "socket_address" }
    enum SocketAddressKeys: String, CodingKey {
        case address
        case portValue = "port_value"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        var endpoint = container.nestedContainer(keyedBy: EndpointKeys.self, forKey: .endpoint)
        var addressContainer = endpoint.nestedContainer(keyedBy: AddressKeys.self, forKey: .address)
        var socket = addressContainer.nestedContainer(keyedBy: SocketAddressKeys.self, forKey: .socketAddress)
        try socket.encode(address, forKey: .address)
        try socket.encode(port, forKey: .portValue)
        try container.encode("HEALTHY", forKey: .healthStatus)
        try container.encode(loadBalancingWeight, forKey: .loadBalancingWeight)
    }
}

extension EDSDiscoveryResponse {
    /// The assignment of `route`'s service in `table`: one locality per cluster with weight, holding the
    /// cluster's endpoints that have weight.
    init(table: RoutingTable, route: RouteEntry) {
        var localities: [EDSLocalityEndpoints] = []
        for cluster in route.clusters where cluster.effectiveWeight > 0 {
            let endpoints = route.endpoints.filter { $0.cluster == cluster.cluster && $0.weightPPM > 0 }
            guard !endpoints.isEmpty else { continue }
            // Endpoint weights inside a locality are relative; Envoy needs integers ≥ 1, so they are scaled to
            // the smallest one (tenths kept, so 1.5 : 1 stays 15 : 10).
            let smallest = endpoints.map(\.weightPPM).min() ?? 1
            localities.append(EDSLocalityEndpoints(
                zone: cluster.cluster,
                loadBalancingWeight: UInt32(clamping: cluster.effectiveWeight),
                lbEndpoints: endpoints.map {
                    EDSLbEndpoint(address: $0.host, port: $0.port,
                                  loadBalancingWeight: UInt32(clamping: max(1, Int((Double($0.weightPPM) / Double(smallest) * 10).rounded()))))
                }
            ))
        }
        self.init(versionInfo: "\(table.version)-\(table.hash.prefix(12))",
                  resources: [EDSClusterLoadAssignment(clusterName: route.spec.service, endpoints: localities)])
    }
}
