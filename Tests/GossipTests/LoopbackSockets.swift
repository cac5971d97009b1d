import Foundation
import Glibc
import LoopbackFlood

/// Plain blocking sockets on loopback for the attack tests: a flooder, a capturing relay and a hostile state-sync
/// client. Every wait has a timeout (SO_RCVTIMEO), every loop a deadline.
enum LoopbackSockets {
    static func address(_ host: String, _ port: Int) -> sockaddr_in { LoopbackFlood.address(host, port) }

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
                continuation.resume(returning: LoopbackFlood.send(from: from, to: host, port: port, payloads: payloads, seconds: seconds, rate: rate) ?? 0)
            }
        }
    }

    /// Resident memory of this process, in MB.
    static func residentMB() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return -1 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Double(fields[1]) else { return -1 }
        return pages * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576
    }
}
