import Foundation
import GatewayHTTP
import Gossip
import KubernetesDiscovery
import MeshCrypto
import WeightTable
import Yams

/// Which side of the mesh a process plays; some keys belong to one side only.
enum Role: String, Sendable {
    case agent
    case gateway
}

/// The configuration file of CONTRACT.md, validated as a whole before anything starts.
struct Config: Sendable {
    var file: String
    var role: Role
    var node: String
    var cluster: String
    var zone: String
    var gossip: GossipConfig
    var keys: KeysConfig
    var adminListen: HostPort?
    var admin = AdminConfig()
    var endpoints: EndpointsConfig
    var probe: ProbeConfig
    var routes: RoutesConfig?
    var failover = FailoverConfig()
    var proxyListen: HostPort?
    var proxy = ProxyConfig()
    var outputs: OutputsConfig
    /// Every file this configuration was read from: itself, the keys, the trust roster, the Ingress. A reload
    /// watches them all.
    var files: [String] = []

    /// Who may read the admin API (`admin:` besides `listen`).
    struct AdminConfig: Sendable, Equatable {
        /// The bearer token from `admin.token: FILE` (checked by ``AdminTokenFile``); nil: no token, all open.
        var token: String?
        /// Whether `/metrics` stays open when a token is set. Default false: metrics name every member, cluster
        /// and address of the mesh; Prometheus sends a token with `authorization: { credentials_file: FILE }`.
        var metricsPublic = false
    }

    /// The built-in proxy's limits (`proxy:` besides `listen`); every state of a client connection has a deadline.
    struct ProxyConfig: Sendable, Equatable {
        /// `requestHeaderTimeout`: the whole request head, from the accept or from its first byte; then 408.
        var requestHeaderTimeout: Duration = .seconds(10)
        /// `requestBodyTimeout`: the longest a request body may make no progress; then 408. Also how long
        /// the rest of a body is drained after an early answer (413, say).
        var requestBodyTimeout: Duration = .seconds(30)
        /// `responseTimeout`: from the whole request upstream to the response head (then 504), and the longest
        /// a response may then make no progress.
        var responseTimeout: Duration = .seconds(30)
        /// `idleTimeout`: a keep-alive connection between requests.
        var idleTimeout: Duration = .seconds(75)
        /// `maxConnections`: client connections served at once, one more gets 503; nil: from RLIMIT_NOFILE,
        /// `max(16, (RLIMIT_NOFILE − 128) / 3)`.
        var maxConnections: Int?
        /// `connectTimeout`: an upstream TCP connect, after which the request goes to another cluster. 1 s: an
        /// in-zone or cross-zone connect takes milliseconds, so only a dead or cut-off host takes this long.
        var connectTimeout: Duration = .seconds(1)
        /// `perTryTimeout`: a try with no response head this long after the upstream had the request goes once
        /// to another cluster (GET, HEAD, OPTIONS, and `retryNonIdempotent`'s methods). Off by default: how slow
        /// a healthy answer may be is the application's to say.
        var perTryTimeout: Duration?
        /// `retryNonIdempotent`: of PUT and DELETE, those that may be re-sent after a try that wrote them. Empty
        /// by default: applications often act on them once per call. POST and PATCH are never re-sent.
        var retryNonIdempotent: Set<ResendableMethod> = []
        /// `pinHeader`: the request header that pins a request to one cluster (`x-zone-cluster-pin: c2`); nil, the
        /// default: no pinning.
        var pinHeader: String?
    }

    /// How the gateway moves traffic (`failover:`): the partial-capacity rule and failback damping.
    struct FailoverConfig: Sendable, Equatable {
        /// `overprovision` (weight × min(1, 1.4 × healthy fraction)) or `zero-healthy` (full share while any is healthy).
        var mode = FailoverMode.overprovision
        /// A cluster that comes back must stay live this long before it gets traffic again.
        var holdDown: Duration = .seconds(10)
        /// Then its share ramps up linearly over this long.
        var slowStart: Duration = .seconds(10)
        /// A digest older than this (gateway wall clock − its issue time) stops vouching for its cluster, so an
        /// agent whose probes stalled while its gossip runs cannot keep a dead cluster in the table. Default
        /// `TimingBounds.defaultDigestLease` (90 s, three refresh intervals).
        var digestLease: Duration = TimingBounds.defaultDigestLease
        /// Ordered failover, minimum healthy and the rule for when none can serve, for every route (a route may
        /// set its own).
        var traffic = TrafficPolicy()
        /// Which members vouch: `alive` (default) or `alive-or-suspect`.
        var vouching = TablePolicy.Vouching.alive
        /// `outlierDetection`: passive outlier detection from the built-in proxy's answers; nil (default): off.
        var outlierDetection: OutlierPolicy?
    }

    /// The partial-capacity rule as written in `failover.mode`.
    enum FailoverMode: String, Sendable, CaseIterable {
        case overprovision
        case zeroHealthy = "zero-healthy"

        /// Envoy's default overprovisioning factor, 1.4: a cluster keeps its full share down to 1/1.4 ≈ 71% healthy.
        var rule: TablePolicy.Failover { self == .zeroHealthy ? .zeroHealthy : .overprovision(factor: 1.4) }
    }

    struct GossipConfig: Sendable, Equatable {
        var bind: HostPort
        var advertise: HostPort?
        var join: [HostPort]
        var profile: GossipProfile
        /// Bound into every sealed packet, so neighbouring meshes never merge by accident.
        var mesh: String
    }

    struct KeysConfig: Sendable {
        var signing: SigningKeyPair?
        var roster: TrustRoster
        var mesh: Keyring?
    }

    struct StaticEndpoint: Sendable, Hashable {
        var service: String
        var address: HostPort
    }

    struct EndpointsConfig: Sendable, Equatable {
        var staticList: [StaticEndpoint] = []
        var kubernetesServices: [String] = []
    }

    struct ProbeConfig: Sendable, Equatable {
        var kind: EndpointProber.Check = .http(path: "/healthz", expectStatus: 200)
        var interval: Duration = .seconds(1)
        var timeout: Duration = .milliseconds(500)
        var fall = 2
        var rise = 2
        /// How many agents of a cluster probe each endpoint (rendezvous hashing over the live members).
        var probers = 2
    }

    /// Where the gateway's routes come from, with the routes already parsed and checked against the trust roster.
    enum RoutesConfig: Sendable {
        /// An Ingress manifest, resolved against the config file's directory, and its routes.
        case ingress(path: String, routes: [RouteSpec])
        /// Inline routes.
        case inline([RouteSpec])
        /// The Ingress objects of a class, listed and watched through the Kubernetes API: no routes until listed.
        case kubernetes(KubernetesRoutes)

        /// The routes known now: none yet for `kubernetes`, whose routes arrive through the watch.
        var routes: [RouteSpec] {
            switch self {
            case .ingress(_, let routes), .inline(let routes): return routes
            case .kubernetes: return []
            }
        }

        /// The file the routes were read from, other than the configuration itself (a reload watches it).
        var file: String? {
            if case .ingress(let path, _) = self { return path }
            return nil
        }
    }

    /// `routes.kubernetes`: which Ingress objects count.
    struct KubernetesRoutes: Sendable, Equatable {
        /// Only Ingresses of this class (`spec.ingressClassName`, or the older `kubernetes.io/ingress.class` annotation).
        var ingressClass: String
        /// The namespaces watched; empty: every namespace.
        var namespaces: [String]
    }

    struct OutputsConfig: Sendable, Equatable {
        var envoyDirectory: String?
        var haproxy: HAProxyOutput?
    }

    struct HAProxyOutput: Sendable, Equatable {
        var socket: String
        var backend: String
        /// Servers named PREFIX1...PREFIXn in the backend are the slots zone-agent fills (`server-template`).
        var serverPrefix: String
        /// The service (`NAMESPACE/NAME`) whose route feeds the backend; nil: the first route.
        var service: String?
    }
}

extension Config {
    /// Reads and validates `path` for `role`; every problem is a `ConfigError` naming the file and the key.
    static func load(
        path: String, role: Role, environment: [String: String] = ProcessInfo.processInfo.environment, descriptorLimit: Int? = nil
    ) throws(ConfigError) -> Config {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(file: path, key: nil, problem: "cannot be read (missing, or no permission)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: path, key: nil, problem: "is not UTF-8 text")
        }
        return try parse(text, file: path, role: role, environment: environment, descriptorLimit: descriptorLimit)
    }

    /// - Parameter descriptorLimit: the `RLIMIT_NOFILE` that `proxy.maxConnections` is checked against; nil: this process's.
    static func parse(
        _ text: String, file: String, role: Role, environment: [String: String], descriptorLimit: Int? = nil
    ) throws(ConfigError) -> Config {
        let y = YAMLReader(file: file)
        let root = try y.document(text)
        let top = try y.mapping(root, at: "", allowed: ["node", "cluster", "zone", "gossip", "keys", "admin", "endpoints",
                                                        "probe", "routes", "failover", "proxy", "outputs"])
        let directory = (file as NSString).deletingLastPathComponent
        func resolve(_ p: String) -> String { p.hasPrefix("/") || directory.isEmpty ? p : "\(directory)/\(p)" }

        // Keys that belong to the other role are refused rather than ignored: they show a misunderstanding.
        let agentOnly = ["endpoints", "probe"], gatewayOnly = ["routes", "failover", "proxy", "outputs"]
        for key in (role == .agent ? gatewayOnly : agentOnly) where top[key] != nil {
            throw y.fail(key, "belongs to the \(role == .agent ? "gateway" : "agent") configuration, not the \(role.rawValue)'s")
        }

        var node = try y.string(top["node"], at: "node") ?? environment["NODE_NAME"] ?? ProcessInfo.processInfo.hostName
        node = node.trimmingCharacters(in: .whitespaces)
        guard !node.isEmpty, node.utf8.count <= 253 else { throw y.fail("node", "must be a name of 1 to 253 bytes") }
        let cluster = try y.string(top["cluster"], at: "cluster") ?? ""
        if role == .agent && cluster.isEmpty { throw y.fail("cluster", "is required for an agent (the cluster id it vouches for)") }
        let zone = try y.string(top["zone"], at: "zone") ?? ""

        // gossip
        guard let gossipNode = top["gossip"] else { throw y.fail("gossip", "is required (at least gossip.bind)") }
        let g = try y.mapping(gossipNode, at: "gossip", allowed: ["bind", "advertise", "join", "profile", "mesh"])
        guard let bind = try y.address(g["bind"], at: "gossip.bind") else { throw y.fail("gossip.bind", "is required") }
        var advertise = try y.address(g["advertise"], at: "gossip.advertise")
        if advertise == nil, let podIP = environment["POD_IP"], !podIP.isEmpty {
            advertise = HostPort(host: podIP, port: bind.port)
        }
        var join: [HostPort] = []
        for (i, item) in try y.list(g["join"], at: "gossip.join").enumerated() {
            guard let a = try y.address(item, at: "gossip.join[\(i)]") else { throw y.fail("gossip.join[\(i)]", "is empty") }
            join.append(a)
        }
        let profileText = try y.string(g["profile"], at: "gossip.profile") ?? GossipProfile.lan.rawValue
        guard let profile = GossipProfile(rawValue: profileText) else {
            throw y.fail("gossip.profile", "`\(profileText)` is not a profile; use lan, fast or wan")
        }
        let meshName = try y.string(g["mesh"], at: "gossip.mesh") ?? "zone-agent"

        // keys
        guard let keysNode = top["keys"] else { throw y.fail("keys", "is required (at least keys.trust)") }
        let k = try y.mapping(keysNode, at: "keys", allowed: ["signing", "trust", "mesh"])
        var named = [file]
        var signing: SigningKeyPair?
        if let path = try y.string(k["signing"], at: "keys.signing") {
            named.append(resolve(path))
            do { signing = try KeyFiles.readSigningKey(path: resolve(path)) } catch { throw y.fail("keys.signing", "\(error)") }
        } else if role == .agent {
            throw y.fail("keys.signing", "is required for an agent (the cluster's secret key from zone-agent keygen)")
        }
        let trustPath = resolve(try y.requiredString(k["trust"], at: "keys.trust"))
        named.append(trustPath)
        guard let trustData = FileManager.default.contents(atPath: trustPath), let trustText = String(data: trustData, encoding: .utf8) else {
            throw y.fail("keys.trust", "\(trustPath) cannot be read (missing, or no permission)")
        }
        let roster: TrustRoster
        do { roster = try TrustRoster(yaml: trustText, source: trustPath) } catch { throw y.fail("keys.trust", "\(error)") }
        if role == .agent {
            guard roster.contains(cluster: cluster) else {
                throw y.fail("cluster", "cluster \(cluster) is not in the trust roster \(trustPath)")
            }
            if let signing, roster.key(signing.keyID, forCluster: cluster) == nil {
                throw y.fail("keys.signing", "its public key \(signing.publicKey.base64) is not trusted for cluster \(cluster) in \(trustPath)")
            }
        }
        var keyring: Keyring?
        if let path = try y.string(k["mesh"], at: "keys.mesh") {
            named.append(resolve(path))
            do {
                let keys = try KeyFiles.readMeshKeys(path: resolve(path))
                keyring = Keyring(primary: keys.primary, accepted: keys.accepted, meshName: meshName)
            } catch { throw y.fail("keys.mesh", "\(error)") }
        }

        let adminListen: HostPort?
        var admin = AdminConfig()
        if let adminNode = top["admin"] {
            let a = try y.mapping(adminNode, at: "admin", allowed: ["listen", "token", "metricsPublic"])
            adminListen = try y.address(a["listen"], at: "admin.listen")
            if let path = try y.string(a["token"], at: "admin.token") {
                do { admin.token = try AdminTokenFile.read(path: resolve(path)) } catch { throw y.fail("admin.token", "\(error)") }
            }
            if let value = try y.string(a["metricsPublic"], at: "admin.metricsPublic") {
                guard let flag = ["true": true, "false": false][value] else {
                    throw y.fail("admin.metricsPublic", "`\(value)` must be true or false")
                }
                admin.metricsPublic = flag
            }
        } else {
            adminListen = nil
        }

        var endpoints = EndpointsConfig()
        if let endpointsNode = top["endpoints"] {
            let e = try y.mapping(endpointsNode, at: "endpoints", allowed: ["static", "kubernetes"])
            for (i, item) in try y.list(e["static"], at: "endpoints.static").enumerated() {
                let path = "endpoints.static[\(i)]"
                let m = try y.mapping(item, at: path, allowed: ["service", "address"])
                let service = try y.requiredString(m["service"], at: "\(path).service")
                try checkServiceName(service, y: y, at: "\(path).service")
                guard let address = try y.address(m["address"], at: "\(path).address") else {
                    throw y.fail("\(path).address", "is required")
                }
                guard address.port > 0 else { throw y.fail("\(path).address", "port 0 cannot be probed") }
                endpoints.staticList.append(StaticEndpoint(service: service, address: address))
            }
            if let kubeNode = e["kubernetes"] {
                let kube = try y.mapping(kubeNode, at: "endpoints.kubernetes", allowed: ["services"])
                for (i, item) in try y.list(kube["services"], at: "endpoints.kubernetes.services").enumerated() {
                    let service = try y.requiredString(item, at: "endpoints.kubernetes.services[\(i)]")
                    try checkServiceName(service, y: y, at: "endpoints.kubernetes.services[\(i)]")
                    endpoints.kubernetesServices.append(service)
                }
            }
        }
        if role == .agent && endpoints.staticList.isEmpty && endpoints.kubernetesServices.isEmpty {
            throw y.fail("endpoints", "is required for an agent: a static list or kubernetes.services")
        }

        var probe = ProbeConfig()
        if let probeNode = top["probe"] {
            let p = try y.mapping(probeNode, at: "probe", allowed: ["http", "tcp", "interval", "timeout", "fall", "rise", "probers"])
            if p["http"] != nil && p["tcp"] != nil { throw y.fail("probe", "takes http or tcp, not both") }
            if let http = p["http"] {
                let h = try y.mapping(http, at: "probe.http", allowed: ["path", "status"])
                let path = try y.string(h["path"], at: "probe.http.path") ?? "/healthz"
                guard path.hasPrefix("/") else { throw y.fail("probe.http.path", "`\(path)` must start with /") }
                probe.kind = .http(path: path, expectStatus: try y.int(h["status"], at: "probe.http.status", range: 100...599) ?? 200)
            }
            if let tcp = p["tcp"] {
                if tcp.mapping == nil && !(tcp.scalar?.string.isEmpty ?? false) && tcp.scalar?.string != "null" {
                    throw y.fail("probe.tcp", "takes no settings: write `tcp: {}`")
                }
                if let m = tcp.mapping, !m.isEmpty { throw y.fail("probe.tcp", "takes no settings: write `tcp: {}`") }
                probe.kind = .tcp
            }
            probe.interval = try y.duration(p["interval"], at: "probe.interval", bounds: TimingBounds.probeInterval) ?? probe.interval
            probe.timeout = try y.duration(p["timeout"], at: "probe.timeout", bounds: TimingBounds.probeTimeout) ?? probe.timeout
            probe.fall = try y.probeCount(p["fall"], at: "probe.fall") ?? probe.fall
            probe.rise = try y.probeCount(p["rise"], at: "probe.rise") ?? probe.rise
            probe.probers = try y.int(p["probers"], at: "probe.probers", range: 1...100) ?? probe.probers
            guard probe.timeout <= probe.interval else {
                throw y.fail("probe.timeout", "(\(DurationText.format(probe.timeout))) must not exceed probe.interval (\(DurationText.format(probe.interval)))")
            }
        }

        var routes: RoutesConfig?
        if let routesNode = top["routes"] {
            routes = try RoutesConfig.parse(routesNode, y: y, resolve: resolve, knownClusters: Set(roster.clusters))
        } else if role == .gateway {
            throw y.fail("routes", "is required for a gateway: `ingress: FILE`, `kubernetes: { ingressClass: CLASS }` or a list of routes")
        }

        var failover = FailoverConfig()
        if let failoverNode = top["failover"] {
            let f = try y.mapping(failoverNode, at: "failover", allowed: ["mode", "holdDown", "slowStart", "digestLease", "vouching", "outlierDetection"]
                                  + TrafficPolicy.Overrides.keys)
            failover.traffic = try TrafficPolicy.Overrides.parse({ f[$0] }, at: "failover", walker: y, knownClusters: Set(roster.clusters))
                .map { TrafficPolicy().overridden(by: $0) } ?? failover.traffic
            if let vouching = try y.string(f["vouching"], at: "failover.vouching") {
                guard let rule = TablePolicy.Vouching(rawValue: vouching) else {
                    throw y.fail("failover.vouching", "`\(vouching)` is not a rule; use alive or alive-or-suspect")
                }
                failover.vouching = rule
            }
            if let mode = try y.string(f["mode"], at: "failover.mode") {
                guard let parsed = FailoverMode(rawValue: mode) else {
                    throw y.fail("failover.mode", "`\(mode)` is not a mode; use overprovision or zero-healthy")
                }
                failover.mode = parsed
            }
            failover.holdDown = try y.duration(f["holdDown"], at: "failover.holdDown", bounds: TimingBounds.holdDown) ?? failover.holdDown
            failover.slowStart = try y.duration(f["slowStart"], at: "failover.slowStart", bounds: TimingBounds.slowStart) ?? failover.slowStart
            failover.digestLease = try y.duration(f["digestLease"], at: "failover.digestLease", bounds: TimingBounds.digestLease)
                ?? failover.digestLease
            if let node = f["outlierDetection"] {
                failover.outlierDetection = try OutlierPolicy.parse(node, at: "failover.outlierDetection", y: y)
            }
        }

        var proxyListen: HostPort?
        var proxy = ProxyConfig()
        if let proxyNode = top["proxy"] {
            let p = try y.mapping(proxyNode, at: "proxy", allowed: [
                "listen", "requestHeaderTimeout", "requestBodyTimeout", "responseTimeout", "idleTimeout", "maxConnections",
                "connectTimeout", "perTryTimeout", "retryNonIdempotent", "pinHeader",
            ])
            proxyListen = try y.address(p["listen"], at: "proxy.listen")
            func timeout(_ key: String, _ current: Duration) throws(ConfigError) -> Duration {
                guard let value = try y.duration(p[key], at: "proxy.\(key)") else { return current }
                // A connection's timer fires at its shortest timeout: below 10 ms it would spin.
                guard value >= .milliseconds(10) else {
                    throw y.fail("proxy.\(key)", "`\(DurationText.format(value))` is too short; use at least 10ms")
                }
                return value
            }
            proxy.requestHeaderTimeout = try timeout("requestHeaderTimeout", proxy.requestHeaderTimeout)
            proxy.requestBodyTimeout = try timeout("requestBodyTimeout", proxy.requestBodyTimeout)
            proxy.responseTimeout = try timeout("responseTimeout", proxy.responseTimeout)
            proxy.idleTimeout = try timeout("idleTimeout", proxy.idleTimeout)
            proxy.connectTimeout = try timeout("connectTimeout", proxy.connectTimeout)
            if try y.duration(p["perTryTimeout"], at: "proxy.perTryTimeout") != nil {
                let perTry = try timeout("perTryTimeout", .zero)
                guard perTry < proxy.responseTimeout else {
                    throw y.fail("proxy.perTryTimeout", "`\(DurationText.format(perTry))` is not shorter than proxy.responseTimeout "
                        + "(\(DurationText.format(proxy.responseTimeout))), so it would never fire; shorten it or leave it out")
                }
                proxy.perTryTimeout = perTry
            }
            for (index, node) in try y.list(p["retryNonIdempotent"], at: "proxy.retryNonIdempotent").enumerated() {
                let key = "proxy.retryNonIdempotent[\(index)]"
                let name = try y.requiredString(node, at: key)
                guard let method = ResendableMethod(rawValue: name.uppercased()) else {
                    throw y.fail(key, "`\(name)` cannot be re-sent; only PUT and DELETE can be listed (GET, HEAD and OPTIONS "
                        + "always are, POST and PATCH never)")
                }
                proxy.retryNonIdempotent.insert(method)
            }
            proxy.pinHeader = try PinHeader.parse(p["pinHeader"], at: "proxy.pinHeader", y: y)
            if let max = try y.int(p["maxConnections"], at: "proxy.maxConnections", range: 1...10_000_000) {
                let limit = descriptorLimit ?? WeightedProxy.descriptorLimit()
                let capacity = WeightedProxy.connectionCapacity(descriptorLimit: limit)
                guard max <= capacity else {
                    throw y.fail("proxy.maxConnections", "\(max) connections need up to \(3 * max + 128) file descriptors "
                        + "(3 per connection: client, upstream, one idle pooled; 128 kept for the rest), but RLIMIT_NOFILE is "
                        + "\(limit), enough for \(capacity); raise the limit (ulimit -n, LimitNOFILE=) or lower proxy.maxConnections")
                }
                proxy.maxConnections = max
            }
        }

        if failover.outlierDetection != nil && proxyListen == nil {
            throw y.fail("failover.outlierDetection", "needs the built-in proxy (proxy.listen): it learns from the proxy's answers")
        }

        var outputs = OutputsConfig()
        if let outputsNode = top["outputs"] {
            let o = try y.mapping(outputsNode, at: "outputs", allowed: ["envoy", "haproxy"])
            if let envoy = o["envoy"] {
                let e = try y.mapping(envoy, at: "outputs.envoy", allowed: ["dir"])
                outputs.envoyDirectory = resolve(try y.requiredString(e["dir"], at: "outputs.envoy.dir"))
            }
            if let haproxy = o["haproxy"] {
                let h = try y.mapping(haproxy, at: "outputs.haproxy", allowed: ["socket", "backend", "serverPrefix", "service"])
                outputs.haproxy = HAProxyOutput(
                    socket: resolve(try y.requiredString(h["socket"], at: "outputs.haproxy.socket")),
                    backend: try y.requiredString(h["backend"], at: "outputs.haproxy.backend"),
                    serverPrefix: try y.string(h["serverPrefix"], at: "outputs.haproxy.serverPrefix") ?? "zone",
                    service: try y.string(h["service"], at: "outputs.haproxy.service"))
            }
        }

        if let service = outputs.haproxy?.service, let routes, case let served = Set(routes.routes.map(\.service)),
           !served.isEmpty, !served.contains(service) {
            throw y.fail("outputs.haproxy.service", "no route serves \(service) (the routes serve \(served.sorted().joined(separator: ", ")))")
        }

        return Config(
            file: file, role: role, node: node, cluster: role == .agent ? cluster : "", zone: zone,
            gossip: GossipConfig(bind: bind, advertise: advertise, join: join, profile: profile, mesh: meshName),
            keys: KeysConfig(signing: signing, roster: roster, mesh: keyring),
            adminListen: adminListen, admin: admin, endpoints: endpoints, probe: probe, routes: routes, failover: failover,
            proxyListen: proxyListen, proxy: proxy, outputs: outputs, files: named + (routes?.file.map { [$0] } ?? []))
    }

    /// A service as `NAMESPACE/NAME`, with both parts valid Kubernetes names (the discovery's own rule).
    private static func checkServiceName(_ service: String, y: YAMLReader, at path: String) throws(ConfigError) {
        do { _ = try ServiceRef(parsing: service) } catch { throw y.fail(path, "`\(service)`: \(error)") }
    }
}
