import Glibc
import NIOCore
import NIOPosix
import Wire

/// Splits a state-sync stream into frames: a big-endian u32 length, then that many bytes.
///
/// The first frame of a connection may be at most `firstFrameLimit` bytes (the small sealed hello that
/// authenticates the peer), every later one at most `frameLimit` (one sealed chunk): a peer that announces more is
/// refused at once, before the bytes are buffered, so an unauthenticated peer holds at most a hello's worth of
/// memory plus what the socket has read.
struct SyncFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    let firstFrameLimit: Int
    let frameLimit: Int
    private var frames = 0

    init(firstFrameLimit: Int, frameLimit: Int) {
        self.firstFrameLimit = firstFrameLimit
        self.frameLimit = frameLimit
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .needMoreData }
        guard Int(length) <= (frames == 0 ? firstFrameLimit : frameLimit) else { throw GossipTransportError.syncFrameTooLarge(Int(length)) }
        guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        guard let frame = buffer.readSlice(length: Int(length)) else { return .needMoreData }
        frames += 1
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }
}

/// Closes a state-sync connection whose peer has not sent a complete first frame within `timeout`, so that a
/// connection that only holds a slot frees it long before the sync timeout.
final class SyncHelloDeadline: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let timeout: TimeAmount
    private var timer: Scheduled<Void>?
    private var heard = false

    init(timeout: TimeAmount) { self.timeout = timeout }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !heard {
            heard = true
            timer?.cancel()
            timer = nil
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    private func arm(_ context: ChannelHandlerContext) {
        guard timer == nil, !heard else { return }
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }
}

/// Writes a frame: its length as a big-endian u32, then its bytes.
struct SyncFrameEncoder: MessageToByteEncoder {
    typealias OutboundIn = ByteBuffer

    func encode(data: ByteBuffer, out: inout ByteBuffer) throws {
        out.writeInteger(UInt32(data.readableBytes))
        out.writeImmutableBuffer(data)
    }
}

extension PeerAddress {
    /// The peer address of a socket address, if it is an IP address.
    init?(_ socketAddress: SocketAddress) {
        guard let ip = socketAddress.ipAddress, let port = socketAddress.port, let host = PeerAddress.parseHost(Substring(ip)),
              let p = UInt16(exactly: port) else { return nil }
        self.init(host: host, port: p)
    }

    /// Whether this is the wildcard address, which no peer can send to.
    var isUnspecified: Bool {
        switch host {
        case .v4(let v): return v == 0
        case .v6(let hi, let lo): return hi == 0 && lo == 0
        }
    }

    /// The socket address to send to.
    func socketAddress() throws -> SocketAddress {
        try SocketAddress(ipAddress: hostText, port: Int(port))
    }
}

/// Resolves `host:port` seeds to every address they name. Numeric hosts need no lookup; names go through
/// getaddrinfo on NIO's thread pool, so the caller's task never blocks on DNS.
enum SeedResolver {
    /// Resolves every seed; with `ipv4Only` (a socket bound to an IPv4 address) IPv6 answers are left out, since
    /// the socket could not reach them anyway.
    static func resolve(_ seeds: [String], ipv4Only: Bool = false) async -> [PeerAddress] {
        let all = await resolveAll(seeds)
        guard ipv4Only else { return all }
        return all.filter { if case .v4 = $0.host { return true } else { return false } }
    }

    private static func resolveAll(_ seeds: [String]) async -> [PeerAddress] {
        var out: [PeerAddress] = []
        for seed in seeds {
            if let numeric = PeerAddress(seed) {
                out.append(numeric)
                continue
            }
            guard let colon = seed.lastIndex(of: ":"), let port = UInt16(seed[seed.index(after: colon)...]) else { continue }
            let host = String(seed[..<colon])
            let addresses = (try? await NIOThreadPool.singleton.runIfActive { lookup(host) }) ?? []
            out += addresses.map { PeerAddress(host: $0, port: port) }
        }
        return Array(Set(out)).sorted()
    }

    /// Every IPv4 and IPv6 address of `host`.
    static func lookup(_ host: String) -> [PeerAddress.Host] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return [] }
        defer { freeaddrinfo(first) }
        var hosts: [PeerAddress.Host] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            if let sa = info.pointee.ai_addr {
                switch Int32(sa.pointee.sa_family) {
                case AF_INET:
                    let v = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
                    hosts.append(.v4(v))
                case AF_INET6:
                    let bytes = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                        withUnsafeBytes(of: p.pointee.sin6_addr) { Array($0) }
                    }
                    if bytes.count == 16 {
                        let hi = bytes[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                        let lo = bytes[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                        hosts.append(.v6(hi, lo))
                    }
                default: break
                }
            }
            cursor = info.pointee.ai_next
        }
        return hosts
    }
}
