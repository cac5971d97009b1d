import Foundation
import Glibc

/// One UDP socket sending datagrams as fast as the kernel takes them, 64 a `sendmmsg(2)` call: the attacker of
/// `make adversarial` and of the flood tests. Shared by the `gossip-node flood` tool and the tests, so both measure
/// the same attack.
public enum LoopbackFlood {
    /// Sends `payloads` round robin from `from` (any port) to `host:port` for `seconds`: as fast as the socket goes,
    /// or at most `rate` a second when it is above 0. Blocks the calling thread. Returns the datagrams sent, or nil
    /// when the socket cannot be bound or connected.
    public static func send(from: String, to host: String, port: Int, payloads: [[UInt8]], seconds: Double, rate: Double = 0) -> UInt64? {
        guard !payloads.isEmpty else { return 0 }
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var local = address(from, 0), remote = address(host, port)
        let size = socklen_t(MemoryLayout<sockaddr_in>.size)
        guard withUnsafePointer(to: &local, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, size) } }) == 0,
              withUnsafePointer(to: &remote, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, size) } }) == 0
        else { return nil }
        var buffer: Int32 = 1 << 20
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, socklen_t(MemoryLayout<Int32>.size))
        // One contiguous copy of the payloads and a fixed vector of 64 messages over them.
        let batch = 64
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: payloads.reduce(0) { $0 + $1.count }, alignment: 8)
        defer { storage.deallocate() }
        var slots: [(offset: Int, count: Int)] = []
        var at = 0
        for p in payloads {
            p.withUnsafeBytes { storage.baseAddress!.advanced(by: at).copyMemory(from: $0.baseAddress!, byteCount: p.count) }
            slots.append((at, p.count))
            at += p.count
        }
        let iov = UnsafeMutablePointer<iovec>.allocate(capacity: batch)
        let msgs = UnsafeMutablePointer<MultipleMessageHeader>.allocate(capacity: batch)
        defer { iov.deallocate(); msgs.deallocate() }
        let begin = Date()
        let end = begin.addingTimeInterval(seconds)
        var sent: UInt64 = 0
        var next = 0
        while Date() < end {
            for _ in 0..<64 {
                for j in 0..<batch {
                    let slot = slots[(next + j) % slots.count]
                    iov[j] = iovec(iov_base: storage.baseAddress!.advanced(by: slot.offset), iov_len: slot.count)
                    msgs[j] = MultipleMessageHeader(msg_hdr: msghdr(), msg_len: 0)
                    msgs[j].msg_hdr.msg_iov = iov.advanced(by: j)
                    msgs[j].msg_hdr.msg_iovlen = 1
                }
                next = (next + batch) % slots.count
                let n = sendmmsg(fd, UnsafeMutableRawPointer(msgs), UInt32(batch), 0)
                if n > 0 { sent += UInt64(n) }
                if rate > 0 {
                    let ahead = Double(sent) / rate - Date().timeIntervalSince(begin)
                    if ahead > 0 { usleep(UInt32(min(ahead, 0.1) * 1e6)) }
                    if Date() >= end { break }
                }
            }
        }
        return sent
    }

    /// The IPv4 socket address `host:port`.
    public static func address(_ host: String, _ port: Int) -> sockaddr_in {
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &a.sin_addr)
        return a
    }

    /// `struct mmsghdr`, which the Glibc module does not export (it needs _GNU_SOURCE): the same layout.
    struct MultipleMessageHeader {
        var msg_hdr: msghdr
        var msg_len: UInt32
    }

    /// `sendmmsg(2)`, looked up at run time for the same reason.
    static let sendmmsg: @convention(c) (Int32, UnsafeMutableRawPointer, UInt32, Int32) -> Int32 = {
        unsafeBitCast(dlsym(UnsafeMutableRawPointer(bitPattern: 0), "sendmmsg"),
                      to: (@convention(c) (Int32, UnsafeMutableRawPointer, UInt32, Int32) -> Int32).self)
    }()
}
