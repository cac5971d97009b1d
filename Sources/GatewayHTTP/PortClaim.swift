// A port claimed before the event loops' listeners share it. Sockets that all set SO_REUSEPORT share a port without
// a word, so a second gateway started on a port in use by mistake would take part of the first one's connections.
// A plain bind first fails as a bind always did when anything listens there.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore

/// Binds a plain socket (`SO_REUSEADDR`, as the listeners set it, so a restart is not held up by old connections'
/// TIME_WAIT; no `SO_REUSEPORT`) to `address`, and closes it. Throws `EADDRINUSE` when something listens there;
/// returns `address` with the port the kernel chose when it asked for 0. The socket never listens, so no client can
/// connect to it in the instant it exists (with NIO's bootstrap, one that did would have been reset).
func claimPort(_ address: SocketAddress) throws -> SocketAddress {
    let fd = socket(Int32(address.protocol.rawValue), Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw IOError(errnoCode: errno, reason: "socket") }
    defer { close(fd) }
    var one: Int32 = 1
    guard setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
        throw IOError(errnoCode: errno, reason: "setsockopt")
    }
    guard address.withSockAddr({ bind(fd, $0, socklen_t($1)) }) == 0 else { throw IOError(errnoCode: errno, reason: "bind") }
    guard address.port == 0 else { return address }
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let named = withUnsafeMutablePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard named == 0 else { throw IOError(errnoCode: errno, reason: "getsockname") }
    // The port sits at the same place in sockaddr_in and sockaddr_in6, in network byte order.
    let port = withUnsafeBytes(of: &storage) { UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self)) }
    var claimed = address
    claimed.port = Int(port)
    return claimed
}
