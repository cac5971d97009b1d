import Foundation
import Glibc
import LoopbackFlood
import MeshCrypto
import Wire

/// `gossip-node flood`: one UDP socket sending to one member as fast as it goes, for `make adversarial`.
enum Flood {
    static func main(_ arguments: [String]) -> Never {
        var from = "127.0.0.9", to = "", mode = "random", seconds = 10.0
        var key: MeshKey?
        var meshName = "gossip-node"
        var it = arguments.makeIterator()
        while let flag = it.next() {
            guard let value = it.next() else { fail("\(flag) needs a value") }
            switch flag {
            case "--from": from = value
            case "--to": to = value
            case "--mode": mode = value
            case "--seconds": seconds = Double(value) ?? seconds
            case "--mesh-key": key = MeshKey(base64: value)
            case "--mesh-name": meshName = value   // `zone-agent`'s gossip.mesh, to flood a real gateway
            default: fail("unknown flood flag \(flag)")
            }
        }
        guard let target = PeerAddress(to), ["random", "replay"].contains(mode) else {
            fail("usage: gossip-node flood --from HOST --to HOST:PORT --mode random|replay [--seconds S] [--mesh-key K] [--mesh-name NAME]")
        }
        var payloads: [[UInt8]]
        if mode == "random" {
            var rng = SystemRandomNumberGenerator()
            payloads = (0..<1024).map { _ in (0..<150).map { _ in UInt8.random(in: 0...255, using: &rng) } }
        } else {
            // Pings as a member sends them, sealed once: replaying them is replaying a capture.
            let ring = key.map { Keyring(primary: $0, meshName: meshName) }
            let now = UInt64(Date().timeIntervalSince1970 * 1000)
            payloads = (0..<64).map { i in
                let packet = WireEncoding.encodePacketBytes([.ping(Ping(sequence: UInt32(1_000 + i), source: "b", target: "", targetGeneration: 0))])
                return ring?.seal(packet, sentAtMillis: now) ?? packet
            }
        }
        let sent = send(from: from, to: target, payloads: payloads, seconds: seconds)
        print("flood \(mode) sent=\(sent) seconds=\(seconds) rate=\(Int(Double(sent) / seconds))")
        exit(0)
    }

    static func send(from: String, to target: PeerAddress, payloads: [[UInt8]], seconds: Double) -> UInt64 {
        guard let sent = LoopbackFlood.send(from: from, to: target.hostText, port: Int(target.port), payloads: payloads, seconds: seconds) else {
            fail("cannot send from \(from) to \(target)")
        }
        return sent
    }
}
