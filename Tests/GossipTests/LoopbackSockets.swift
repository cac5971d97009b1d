import Foundation
import Glibc

/// Plain blocking sockets on loopback for the attack tests: a flooder, a capturing relay and a hostile state-sync
/// client. Every wait has a timeout (SO_RCVTIMEO), every loop a deadline.
enum LoopbackSockets {
    static func address(_ host: String, _ port: Int) -> sockaddr_in {
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &a.sin_addr)
        return a
    }

    /// A socket of `type` bound to `host` (any port), or -1.
    static func bound(_ type: __socket_type, host: String) -> Int32 {
        let fd = socket(AF_INET, Int32(type.rawValue), 0)
        guard fd >= 0 else { return -1 }
        var a = address(host, 0)
        let ok = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0 else { close(fd); return -1 }
        return fd
    }

    static func connect(_ fd: Int32, to host: String, _ port: Int) -> Bool {
        var a = address(host, port)
        return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
    }

    static func setReceiveTimeout(_ fd: Int32, milliseconds: Int) {
        var tv = timeval(tv_sec: milliseconds / 1000, tv_usec: (milliseconds % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends `payloads` round robin from one UDP socket on `from` to `host:port`, 64 datagrams a `sendmmsg` call, for
    /// `seconds`: as fast as the socket goes, or at most `rate` a second when it is above 0. Returns the datagrams
    /// sent. Runs on a thread of its own.
    static func flood(from: String, to host: String, port: Int, payloads: [[UInt8]], seconds: Double, rate: Double = 0) async -> UInt64 {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                let fd = bound(SOCK_DGRAM, host: from)
                guard fd >= 0, connect(fd, to: host, port), !payloads.isEmpty else {
                    continuation.resume(returning: 0)
                    return
                }
                defer { close(fd) }
                var size = 1 << 20
                setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
                // One contiguous copy of the payloads and a fixed vector of 64 messages over them.
                let batch = 64
                let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: payloads.reduce(0) { $0 + $1.count }, alignment: 8)
                defer { storage.deallocate() }
                var offsets: [(Int, Int)] = []
                var at = 0
                for p in payloads {
                    p.withUnsafeBytes { storage.baseAddress!.advanced(by: at).copyMemory(from: $0.baseAddress!, byteCount: p.count) }
                    offsets.append((at, p.count))
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
                            let (offset, count) = offsets[(next + j) % offsets.count]
                            iov[j] = iovec(iov_base: storage.baseAddress!.advanced(by: offset), iov_len: count)
                            msgs[j] = MultipleMessageHeader(msg_hdr: msghdr(), msg_len: 0)
                            msgs[j].msg_hdr.msg_iov = iov.advanced(by: j)
                            msgs[j].msg_hdr.msg_iovlen = 1
                        }
                        next = (next + batch) % offsets.count
                        let n = sendmmsg(fd, UnsafeMutableRawPointer(msgs), UInt32(batch), 0)
                        if n > 0 { sent += UInt64(n) }
                        if rate > 0 {
                            let ahead = Double(sent) / rate - Date().timeIntervalSince(begin)
                            if ahead > 0 { usleep(UInt32(min(ahead, 0.1) * 1e6)) }
                            if Date() >= end { break }
                        }
                    }
                }
                continuation.resume(returning: sent)
            }
        }
    }

    /// `struct mmsghdr`, which the Glibc module does not export (it needs _GNU_SOURCE): the same layout.
    struct MultipleMessageHeader {
        var msg_hdr: msghdr
        var msg_len: UInt32
    }

    /// `sendmmsg(2)`, looked up at run time for the same reason.
    static let sendmmsg: @convention(c) (Int32, UnsafeMutableRawPointer, UInt32, Int32) -> Int32 = {
        unsafeBitCast(dlsym(UnsafeMutableRawPointer(bitPattern: 0), "sendmmsg"), to: (@convention(c) (Int32, UnsafeMutableRawPointer, UInt32, Int32) -> Int32).self)
    }()

    /// Resident memory of this process, in MB.
    static func residentMB() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return -1 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Double(fields[1]) else { return -1 }
        return pages * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576
    }
}
