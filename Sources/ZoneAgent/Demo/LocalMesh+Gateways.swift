import Foundation

/// The local mesh's gateways: `gateway` on group 99 and, for `split-mesh`, `gateway-b` on group 98, with the same
/// routes, trust and mesh key.
///
/// For the drills that cut requests (`Layout.gatewaysUnderOwnUIDs`) each gateway runs under a uid of its own. Its
/// upstream connections come from 127.0.0.1 (the proxy binds no source address), as do the agents' probes of their
/// own backends and the other gateway's requests, so on one loopback only the socket's owner tells them apart:
/// iptables' `-m owner --uid-owner` in OUTPUT (and the connection mark it sets, for the replies). The agents and
/// backends stay root, so a rule on a gateway's uid never touches an agent's probes of its own backends.
extension LocalMesh {
    static let secondGatewayName = "gateway-b"

    var gatewayNames: [String] { layout.secondGateway ? ["gateway", Self.secondGatewayName] : ["gateway"] }

    /// The address group of a gateway: 99 for the first, 98 for the second.
    func gatewayGroup(_ name: String) -> Int { name == Self.secondGatewayName ? 98 : 99 }

    func proxyURL(of gateway: String) -> String { "http://\(ip(gatewayGroup(gateway), 1)):8001/svc1" }
    func adminURL(of gateway: String) -> String { "http://\(ip(gatewayGroup(gateway), 1)):9101" }

    /// The address range of a gateway's gossip, for a packet filter: 127.N.GROUP.0/24.
    func gatewaySubnet(_ name: String) -> String { "127.\(net).\(gatewayGroup(name)).0/24" }

    /// The uid a gateway runs under: nil (this process's) unless the layout gives each its own, one no other
    /// process of the drill's network namespace uses (an owner match sees only that namespace's sockets).
    func uid(ofGateway name: String) -> UInt32? {
        guard layout.gatewaysUnderOwnUIDs else { return nil }
        return name == Self.secondGatewayName ? 64_902 : 64_901
    }

    /// Writes `NAME.yaml`; a gateway under its own uid gets a copy of the mesh key it owns (a secret key must be
    /// its owner's alone, and the agents keep theirs).
    func writeGateway(_ name: String, join: String) throws {
        let g = gatewayGroup(name)
        var meshKey = "keys/mesh.key"
        if let uid = uid(ofGateway: name) {
            meshKey = "keys/\(name)-mesh.key"
            let copy = "\(dir)/\(meshKey)"
            try? FileManager.default.removeItem(atPath: copy)
            try FileManager.default.copyItem(atPath: "\(dir)/keys/mesh.key", toPath: copy)
            guard chown(copy, uid, uid) == 0, chmod(copy, 0o600) == 0 else {
                throw DrillError("cannot give \(copy) to uid \(uid): \(String(cString: strerror(errno)))")
            }
        }
        try write("\(name).yaml", """
        node: \(name)
        gossip: { bind: "\(ip(g, 1)):7946", join: \(join), profile: \(layout.profile) }
        keys: { trust: keys/trust.yaml, mesh: \(meshKey) }
        admin: { listen: "\(ip(g, 1)):9101" }
        routes: { ingress: ingress-demo.yaml }
        failover: { holdDown: \(layout.holdDown), slowStart: \(layout.slowStart)\(layout.failoverExtra.isEmpty ? "" : ", " + layout.failoverExtra) }
        proxy: { listen: "\(ip(g, 1)):8001"\(layout.proxyExtra.isEmpty ? "" : ", " + layout.proxyExtra) }
        \(layout.gatewayExtra)

        """)
    }

    /// Starts a gateway.
    func startGateway(_ name: String = "gateway") throws {
        try startAsGateway(name, executable: binary, ["gateway", "--config", "\(name).yaml"])
    }

    /// Starts the program in gateway `name`'s place (ours, or HAProxy for `bench-failover`); under the gateway's
    /// uid, if it has one, through `setpriv` (util-linux), which execs it, so the process signalled is the program.
    func startAsGateway(_ name: String, executable: String, _ arguments: [String]) throws {
        guard let uid = uid(ofGateway: name) else { return try start(name, executable: executable, arguments) }
        guard let setpriv = NetworkNamespace.find("setpriv") else {
            throw DrillError("a gateway under a uid of its own needs setpriv (Debian: util-linux)")
        }
        try start(name, executable: setpriv, ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", executable] + arguments)
    }
}
