import Foundation
import Glibc
import MeshCrypto
import Wire

/// `gossip-node flood`: one UDP socket sending to one member as fast as it goes, for `make adversarial`.
enum Flood {
    /// `struct mmsghdr`, which the Glibc module does not export (it needs _GNU_SOURCE): the same layout.
    struct MultipleMessageHeader {
        var msg_hdr: msghdr
        var msg_len: UInt32
    }

    static func main(_ arguments: [String]) -> Never {
        var from = "127.0.0.9", to = "", mode = "random", seconds = 10.0
        var key: MeshKey?
        var it = arguments.makeIterator()
        while let flag = it.next() {
            guard let value = it.next() else { fail("\(flag) needs a value") }
            switch flag {
            case "--from": from = value
            case "--to": to = value
            case "--mode": mode = value
            case "--seconds": seconds = Double(value) ?? seconds
            case "--mesh-key": key = MeshKey(base64: value)
            default: fail("unknown flood flag \(flag)")
            }
        }
        guard let target = PeerAddress(to), ["random", "replay"].contains(mode) else {
            fail("usage: gossip-node flood --from HOST --to HOST:PORT --mode random|replay [--seconds S] [--mesh-key K]")
        }
        var payloads: [[UInt8]]
        if mode == "random" {
            var rng = SystemRandomNumberGenerator()
            payloads = (0..<1024).map { _ in (0..<150).map { _ in UInt8.random(in: 0...255, using: &rng) } }
        } else {
            // Pings as a member sends them, sealed once: replaying them is replaying a capture.
            let ring = key.map { Keyring(primary: $0, meshName: "gossip-node") }
            let now = UInt64(Date().timeIntervalSince1970 * 1000)
            payloads = (0..<64).map { i in
                let packet = Array(WireEncoding.encodePacket([.ping(Ping(sequence: UInt32(1_000 + i), source: "b", target: "", targetGeneration: 0))]).readableBytesView)
                return ring?.seal(packet, sentAtMillis: now) ?? packet
            }
        }
        let sent = send(from: from, to: target, payloads: payloads, seconds: seconds)
        print("flood \(mode) sent=\(sent) seconds=\(seconds) rate=\(Int(Double(sent) / seconds))")
        exit(0)
    }

    static func send(from: String, to target: PeerAddress, payloads: [[UInt8]], seconds: Double) -> UInt64 {
        let sendmmsg = unsafeBitCast(dlsym(UnsafeMutableRawPointer(bitPattern: 0), "sendmmsg"),
                                     to: (@convention(c) (Int32, UnsafeMutableRawPointer, UInt32, Int32) -> Int32).self)
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { fail("socket failed") }
        func address(_ host: String, _ port: Int) -> sockaddr_in {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET, host, &a.sin_addr)
            return a
        }
        var local = address(from, 0)
        var remote = address(target.hostText, Int(target.port))
        let size = socklen_t(MemoryLayout<sockaddr_in>.size)
        guard withUnsafePointer(to: &local, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, size) } }) == 0,
              withUnsafePointer(to: &remote, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, size) } }) == 0 else {
            fail("cannot send from \(from) to \(target)")
        }
        let batch = 64
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: payloads.reduce(0) { $0 + $1.count }, alignment: 8)
        var slots: [(Int, Int)] = []
        var at = 0
        for p in payloads {
            p.withUnsafeBytes { storage.baseAddress!.advanced(by: at).copyMemory(from: $0.baseAddress!, byteCount: p.count) }
            slots.append((at, p.count))
            at += p.count
        }
        let iov = UnsafeMutablePointer<iovec>.allocate(capacity: batch)
        let msgs = UnsafeMutablePointer<MultipleMessageHeader>.allocate(capacity: batch)
        let end = Date().addingTimeInterval(seconds)
        var sent: UInt64 = 0
        var next = 0
        while Date() < end {
            for _ in 0..<64 {
                for j in 0..<batch {
                    let (offset, count) = slots[(next + j) % slots.count]
                    iov[j] = iovec(iov_base: storage.baseAddress!.advanced(by: offset), iov_len: count)
                    msgs[j] = MultipleMessageHeader(msg_hdr: msghdr(), msg_len: 0)
                    msgs[j].msg_hdr.msg_iov = iov.advanced(by: j)
                    msgs[j].msg_hdr.msg_iovlen = 1
                }
                next = (next + batch) % slots.count
                let n = sendmmsg(fd, UnsafeMutableRawPointer(msgs), UInt32(batch), 0)
                if n > 0 { sent += UInt64(n) }
            }
        }
        close(fd)
        return sent
    }
}
