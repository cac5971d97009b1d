import NIOCore
import NIOPosix
import WeightTable

/// Feeds HAProxy through its Runtime API (the stats socket): each endpoint of the route goes into a server slot
/// of the backend with its address, a weight and `state ready`; slots left over go to `state maint`.
///
/// HAProxy's side: `stats socket PATH level admin` and, in the backend, a `server-template PREFIX 1-N 0.0.0.0:0
/// disabled` that provides N slots named PREFIX1…PREFIXN (N at least the number of endpoints).
struct HAProxyRuntimeOutput: Sendable {
    let socketPath: String
    let backend: String
    let serverPrefix: String
    /// The service whose route feeds this backend; nil takes the first route.
    let service: String?
    let group: any EventLoopGroup

    /// Runtime API commands that put `table` into the slots named `slots` (in slot order).
    static func commands(for table: RoutingTable, service: String?, backend: String, slots: [String]) -> [String] {
        let endpoints = servedEndpoints(of: table, service: service)
        // HAProxy weights run 0…256 and are relative: scale so the heaviest endpoint gets 256.
        let heaviest = endpoints.map(\.weightPPM).max() ?? 1
        var commands: [String] = []
        for (slot, name) in slots.enumerated() {
            let server = "\(backend)/\(name)"
            if slot < endpoints.count {
                let e = endpoints[slot]
                let weight = max(1, Int((Double(e.weightPPM) * 256 / Double(heaviest)).rounded()))
                commands.append("set server \(server) addr \(e.host) port \(e.port)")
                commands.append("set server \(server) weight \(weight)")
                commands.append("set server \(server) state ready")
            } else {
                commands.append("set server \(server) state maint")
            }
        }
        return commands
    }

    /// The endpoints with weight of the route that feeds the backend (the service's, or the first), in slot order.
    static func servedEndpoints(of table: RoutingTable, service: String?) -> [EndpointEntry] {
        guard let route = table.routes.first(where: { service == nil || $0.spec.service == service }) else { return [] }
        return route.endpoints.filter { $0.weightPPM > 0 }
            .sorted { ($0.cluster, $0.host, $0.port) < ($1.cluster, $1.host, $1.port) }
    }

    /// The slot names of the backend, from `show servers state`, in numeric order.
    static func slots(fromServersState text: String, prefix: String) -> [String] {
        // Lines: "<be_id> <be_name> <srv_id> <srv_name> <srv_addr> ...", after a version line and a "#" header.
        let names = text.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            guard fields.count > 4, !line.hasPrefix("#"), fields[3].hasPrefix(prefix),
                  Int(fields[3].dropFirst(prefix.count)) != nil else { return nil }
            return String(fields[3])
        }
        return names.sorted { Int($0.dropFirst(prefix.count))! < Int($1.dropFirst(prefix.count))! }
    }

    /// Applies `table` to HAProxy; throws when the socket cannot be reached or HAProxy refuses a command.
    func apply(_ table: RoutingTable) async throws {
        let state = try await send(["show servers state \(backend)"])
        let slots = Self.slots(fromServersState: state, prefix: serverPrefix)
        guard !slots.isEmpty else {
            throw OutputError(output: "haproxy", problem: "backend \(backend) has no servers named \(serverPrefix)1, \(serverPrefix)2, …; add `server-template \(serverPrefix) 1-16 0.0.0.0:0 disabled` to it")
        }
        let commands = Self.commands(for: table, service: service, backend: backend, slots: slots)
        let needed = Self.servedEndpoints(of: table, service: service).count
        if needed > slots.count {
            throw OutputError(output: "haproxy", problem: "backend \(backend) has \(slots.count) slots for \(needed) endpoints")
        }
        // One connection per batch: the socket closes after answering a line of `;`-separated commands.
        let answer = try await send(commands)
        let complaints = answer.split(separator: "\n").filter {
            !$0.isEmpty && !$0.hasPrefix("IP changed") && !$0.hasPrefix("no need to change") && !$0.contains("port changed")
        }
        if !complaints.isEmpty {
            throw OutputError(output: "haproxy", problem: "HAProxy answered: \(complaints.prefix(3).joined(separator: "; "))")
        }
    }

    /// Sends commands over the stats socket and returns everything HAProxy answered before closing.
    func send(_ commands: [String]) async throws -> String {
        let collected = group.next().makePromise(of: String.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(2))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ReadToEnd(promise: collected))
                    }
                }
                .connect(unixDomainSocketPath: socketPath)
                .get()
        } catch {
            // Every promise must be completed: NIO treats a dropped one as a leak.
            collected.fail(error)
            throw OutputError(output: "haproxy", problem: "cannot connect to \(socketPath): \(error)")
        }
        // Armed before writing, so a peer that never reads cannot hold us either.
        let timeout = channel.eventLoop.scheduleTask(in: .seconds(5)) {
            collected.fail(OutputError(output: "haproxy", problem: "no answer from \(socketPath) within 5 s"))
            channel.close(promise: nil)
        }
        defer { timeout.cancel() }
        var request = ByteBuffer()
        request.writeString(commands.joined(separator: "; ") + "\n")
        do {
            try await channel.writeAndFlush(request).get()
        } catch {
            collected.fail(error)
            try? await channel.close()
            throw OutputError(output: "haproxy", problem: "cannot write to \(socketPath): \(error)")
        }
        return try await collected.futureResult.get()
    }
}

/// Collects a connection's bytes until the peer closes it.
private final class ReadToEnd: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let promise: EventLoopPromise<String>
    private var text = ""

    init(promise: EventLoopPromise<String>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let chunk = unwrapInboundIn(data)
        if text.utf8.count < 1 << 20 { text += String(buffer: chunk) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.succeed(text)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }
}
