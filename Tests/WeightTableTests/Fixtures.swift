import Wire
@testable import WeightTable

/// The seed's Step 3 Ingress with `${cluster1-id}`/`${cluster2-id}` filled in as c1 and c2, unchanged otherwise.
let seedIngress = """
    # The seed's Step 3 Ingress, re-indented from 000_6977eb572fec065b.txt (the source lost its line breaks).
    # Replace ${cluster1-id} and ${cluster2-id} with the cluster ids; the weights must sum to 100.
    apiVersion: networking.k8s.io/v1
    kind: Ingress
    metadata:
      annotations:
        alb.ingress.kubernetes.io/listen-ports: |
          [{"HTTP": 8001}]
        alb.ingress.kubernetes.io/cluster-weight.c1: "20"
        alb.ingress.kubernetes.io/cluster-weight.c2: "80"
      name: web-demo
      namespace: gateway-demo
    spec:
      ingressClassName: alb
      rules:
      - host: alb.ingress.alibaba.com
        http:
          paths:
          - path: /svc1
            pathType: Prefix
            backend:
              service:
                name: service1
                port:
                  number: 80

    """

let service1 = "gateway-demo/service1"
let demoHost = "alb.ingress.alibaba.com"

/// A route over the demo service with the given weights.
func demoRoute(_ weights: [String: Int], path: String = "/svc1", service: String = service1) -> RouteSpec {
    RouteSpec(uncheckedHost: demoHost, path: path, pathType: .prefix, service: service, weights: weights)
}

/// A small mesh for table tests: agents per cluster, each reporting endpoints of one or more services.
struct Mesh {
    var members: [MemberView] = []
    var digests: [HealthDigest] = []
    var version: UInt64 = 1

    /// Adds an agent `name` of `cluster` that reports `endpoints` of `service`.
    mutating func agent(_ name: String, cluster: String, live: Bool = true, service: String = service1,
                        endpoints: [(host: String, port: UInt16, state: EndpointHealthState)]) {
        members.append(MemberView(name: name, cluster: cluster, isLive: live))
        let origin = MemberIdentity(name: name, cluster: cluster, generation: 1)
        digests.append(HealthDigest(origin: origin, incarnation: 1, version: version, issuedAtMillis: 1_000,
                                    endpoints: endpoints.map { EndpointHealth(service: service, host: $0.host, port: $0.port, state: $0.state) }))
        version += 1
    }

    /// Adds one agent for `cluster` reporting `healthy` healthy and `unhealthy` unhealthy endpoints.
    mutating func cluster(_ cluster: String, healthy: Int, unhealthy: Int = 0, live: Bool = true, service: String = service1) {
        var endpoints: [(host: String, port: UInt16, state: EndpointHealthState)] = []
        for i in 0..<(healthy + unhealthy) {
            endpoints.append(("\(cluster).pod\(i + 1)", 8080, i < healthy ? .healthy : .unhealthy))
        }
        agent("\(cluster)-a", cluster: cluster, live: live, service: service, endpoints: endpoints)
    }

    /// Marks every member of `cluster` dead (or live again).
    mutating func setLive(_ cluster: String, _ live: Bool) {
        for i in members.indices where members[i].cluster == cluster { members[i].standing = live ? .alive : .gone }
    }

    func inputs(_ routes: [RouteSpec], isolated: Bool = false, millis: UInt64 = 1_764_039_600_000) -> TableInputs {
        TableInputs(routes: routes, members: members, digests: digests, isolated: isolated, wallClockMillis: millis)
    }
}

extension RoutingTable {
    /// The effective weights of route `index` by cluster name.
    func effective(_ index: Int = 0) -> [String: Int] {
        Dictionary(uniqueKeysWithValues: routes[index].clusters.map { ($0.cluster, $0.effectiveWeight) })
    }

    func cluster(_ name: String, route: Int = 0) -> ClusterEntry? {
        routes[route].clusters.first { $0.cluster == name }
    }
}
