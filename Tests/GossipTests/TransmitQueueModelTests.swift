import SeededRandom
import XCTest
@testable import Gossip
import Wire

/// The transmit queue keeps its entries in selection order instead of sorting them for every datagram; it must
/// choose exactly what the plain rule chooses: least sent first, newest first among equals, greedily within the
/// budget, each entry at most `limit` times (a limit that falls with the mesh drops what was sent that often).
final class TransmitQueueModelTests: XCTestCase {
    /// The rule, written plainly: the queue as it was before it kept its order.
    struct Model {
        struct Entry { var key: String; var message: GossipMessage; var size: Int; var transmits: Int; var serial: UInt64 }
        var entries: [Entry] = []
        var serial: UInt64 = 0
        let capacity: Int

        mutating func enqueue(_ message: GossipMessage, key: String, size: Int) {
            entries.removeAll { $0.key == key }
            serial += 1
            entries.append(Entry(key: key, message: message, size: size, transmits: 0, serial: serial))
            if entries.count > capacity, let victim = entries.indices.max(by: { a, b in
                (entries[a].transmits, entries[b].serial) < (entries[b].transmits, entries[a].serial)
            }) { entries.remove(at: victim) }
        }

        /// Fills datagrams with `rooms` bytes free: each entry in order goes into the first with room for it, and
        /// one with less than 16 bytes left takes nothing more.
        mutating func take(rooms: [Int], limit: Int) -> [[GossipMessage]] {
            var rooms = rooms
            var out = Array(repeating: [GossipMessage](), count: rooms.count)
            guard !entries.isEmpty else { return out }
            let order = entries.indices.sorted { a, b in
                entries[a].transmits != entries[b].transmits ? entries[a].transmits < entries[b].transmits : entries[a].serial > entries[b].serial
            }
            var closed = rooms.map { $0 <= 0 }
            var expired = false
            for i in order {
                guard let f = rooms.indices.first(where: { !closed[$0] && rooms[$0] >= entries[i].size }) else { continue }
                out[f].append(entries[i].message)
                rooms[f] -= entries[i].size
                if rooms[f] < 16 { closed[f] = true }
                entries[i].transmits += 1
                if entries[i].transmits >= limit { expired = true }
                if closed.allSatisfy({ $0 }) { break }
            }
            if expired { entries.removeAll { $0.transmits >= limit } }
            return out
        }
    }

    func testTakesWhatThePlainRuleTakesThroughRandomTraffic() {
        var rng = SplitMix64(seed: 77)
        for round in 0..<20 {
            let capacity = Int.random(in: 5...60, using: &rng)
            var queue = TransmitQueue(capacity: capacity)
            var model = Model(capacity: capacity)
            var limit = Int.random(in: 2...8, using: &rng)
            for step in 0..<600 {
                if Int.random(in: 0..<3, using: &rng) == 0 {
                    let budget = Int.random(in: 0...400, using: &rng)
                    if Int.random(in: 0..<40, using: &rng) == 0 { limit = max(1, limit + Int.random(in: -2...1, using: &rng)) }
                    // One datagram or several (a gossip round's burst to one member), some partly filled already.
                    var fills = (0..<Int.random(in: 1...3, using: &rng)).map { _ in
                        TransmitQueue.Fill(bytes: Int.random(in: 0..<2, using: &rng) == 0 ? 0 : Int.random(in: 0...budget, using: &rng))
                    }
                    let before = fills.map(\.bytes)
                    let added = queue.take(into: &fills, budget: budget, limit: limit)
                    let want = model.take(rooms: before.map { budget - $0 }, limit: limit)
                    XCTAssertEqual(fills.map(\.messages), want, "round \(round), step \(step)")
                    XCTAssertEqual(added, zip(fills, before).map { $0.bytes - $1 }.reduce(0, +))
                    XCTAssertTrue(zip(fills, before).allSatisfy { $0.bytes <= max(budget, $1) })
                } else {
                    let n = UInt32.random(in: 0..<80, using: &rng)
                    let message = GossipMessage.ack(Ack(sequence: UInt32(step), source: "s\(n)"))
                    let size = Int.random(in: 10...120, using: &rng)
                    queue.enqueue(message, key: "k\(n)", size: size)
                    model.enqueue(message, key: "k\(n)", size: size)
                }
                XCTAssertEqual(queue.count, model.entries.count, "round \(round), step \(step)")
            }
        }
    }
}
