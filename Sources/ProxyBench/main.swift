// The processes of bench/proxy-vs-haproxy.sh: a demo backend, or the built-in proxy over fixed weights.
import GatewayHTTP
import NIOCore
import NIOPosix
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Picks upstreams from a fixed smooth weighted round-robin cycle (20/80 → c2 c2 c1 c2 c2), shared by all loops.
final class FixedWeights: UpstreamSelector {
    private let cycle: [Upstream]
    private let next = Atomic<Int>(0)

    init(_ weighted: [(Upstream, Int)]) {
        // Smooth weighted round robin over one whole period, precomputed so a pick is one atomic add.
        let total = weighted.reduce(0) { $0 + $1.1 }
        var current = [Int](repeating: 0, count: weighted.count)
        var cycle: [Upstream] = []
        for _ in 0..<max(total, 1) {
            for i in weighted.indices { current[i] += weighted[i].1 }
            guard let best = current.indices.max(by: { current[$0] < current[$1] }) else { break }
            current[best] -= total
            cycle.append(weighted[best].0)
        }
        self.cycle = cycle
    }

    func route(host: String, path: String) -> Int? { 0 }

    func pick(route: Int) -> Upstream? {
        guard !cycle.isEmpty else { return nil }
        let n = next.wrappingAdd(1, ordering: .relaxed).oldValue
        return cycle[Int(UInt(bitPattern: n) % UInt(cycle.count))]
    }

    func pickRetry(route: Int, excluding: Upstream) -> Upstream? {
        cycle.first { $0.cluster != excluding.cluster }
    }
}

func parseAddress(_ text: String) -> (host: String, port: Int)? {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else { return nil }
    return (String(text[..<colon]), port)
}

func usage() -> Never {
    print("""
    usage: ProxyBench backend NAME HOST:PORT
           ProxyBench proxy HOST:PORT HOST:PORT=WEIGHT... (clusters are named c1, c2, ... in order)
    """)
    exit(64)
}

let arguments = CommandLine.arguments.dropFirst()
switch arguments.first {
case "backend":
    let rest = Array(arguments.dropFirst())
    guard rest.count == 2, let address = parseAddress(rest[1]) else { usage() }
    let server = try await DemoBackend(name: rest[0], host: address.host, port: address.port).start()
    print("backend \(rest[0]) listening on \(server.localAddress)")
    await server.waitUntilClosed()
case "proxy":
    let rest = Array(arguments.dropFirst())
    guard rest.count >= 2, let listen = parseAddress(rest[0]) else { usage() }
    var weighted: [(Upstream, Int)] = []
    for (index, spec) in rest.dropFirst().enumerated() {
        let parts = spec.split(separator: "=")
        guard parts.count == 2, let weight = Int(parts[1]), let address = parseAddress(String(parts[0])),
              let port = UInt16(exactly: address.port) else { usage() }
        weighted.append((Upstream(cluster: "c\(index + 1)", host: address.host, port: port), weight))
    }
    let proxy = WeightedProxy(
        configuration: .init(host: listen.host, port: listen.port),
        selector: FixedWeights(weighted)
    )
    let server = try await proxy.start()
    print("proxy listening on \(server.localAddress) over \(System.coreCount) event loops")
    await server.waitUntilClosed()
default:
    usage()
}
