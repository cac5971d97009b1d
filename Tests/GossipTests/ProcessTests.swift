import Foundation
import Glibc
import Synchronization
import Wire
import XCTest

/// Gossip members as separate processes (the `GossipNode` executable) on 127.0.0.1: one is killed with SIGKILL.
final class ProcessTests: XCTestCase {
    private var nodeBinary: URL? {
        // The test bundle sits beside the executables in the build directory.
        let dir = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let url = dir.appendingPathComponent("GossipNode")
        return FileManager.default.isExecutableFile(atPath: url.path) ? url : nil
    }

    func testKilledProcessIsDeclaredDeadByTheOthers() throws {
        guard let binary = nodeBinary else { throw XCTSkip("GossipNode is not built beside the tests") }
        // Below the ephemeral range (32768+ on Linux), so no outgoing connection holds one of these ports.
        let basePort = 20_000 + Int(getpid() % 3_000) * 4
        let views = MemberViews(count: 4)
        var processes: [Process] = []
        defer { for p in processes where p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        for i in 0..<4 {
            let p = Process()
            p.executableURL = binary
            p.arguments = ["--name", "p\(i)", "--cluster", "c\(i % 2)", "--bind", "127.0.0.1:\(basePort + i)", "--profile", "fast"]
                + (i > 0 ? ["--join", "127.0.0.1:\(basePort)"] : [])
            let output = Pipe()
            p.standardOutput = output
            p.standardError = FileHandle.nullDevice
            try p.run()
            processes.append(p)
            views.follow(output.fileHandleForReading, of: i)
            if i == 0 {
                // The seed answers a ping once it is bound: the others join a member that is there.
                XCTAssertTrue(Self.answersPing(port: basePort, within: .seconds(10)), "the first process never answered a ping")
            }
        }
        let formed = views.wait(for: .seconds(10)) { v in (0..<4).allSatisfy { i in v[i].values.filter { $0 == "alive" }.count == 3 } }
        XCTAssertTrue(formed, "the processes never formed a mesh: \(views.snapshot())")
        let killedAt = ContinuousClock.now
        kill(processes[3].processIdentifier, SIGKILL)
        let detected = views.wait(for: .seconds(10)) { v in (0..<3).allSatisfy { v[$0]["p3"] == "dead" } }
        XCTAssertTrue(detected, "the killed process was not declared dead: \(views.snapshot())")
        print("separate processes, fast profile: SIGKILLed member dead everywhere after \(detected ? seconds(ContinuousClock.now - killedAt) : -1) s")
        // A graceful stop is a departure, not a death.
        kill(processes[2].processIdentifier, SIGTERM)
        let left = views.wait(for: .seconds(5)) { v in (0..<2).allSatisfy { v[$0]["p2"] == "left" } }
        XCTAssertTrue(left, "SIGTERM did not make the member leave: \(views.snapshot())")
    }

    /// Whether a member on 127.0.0.1:`port` answers an (unsealed) ping before `timeout`: one ping every 100 ms.
    private static func answersPing(port: Int, within timeout: Duration) -> Bool {
        let fd = LoopbackSockets.bound(SOCK_DGRAM, host: "127.0.0.1")
        guard fd >= 0 else { return false }
        defer { close(fd) }
        guard LoopbackSockets.connect(fd, to: "127.0.0.1", port) else { return false }
        LoopbackSockets.setReceiveTimeout(fd, milliseconds: 100)
        let ping = Array(WireEncoding.encodePacket([.ping(Ping(sequence: 1, source: "", target: "", targetGeneration: 0))]).readableBytesView)
        var buffer = [UInt8](repeating: 0, count: 2048)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            _ = ping.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            // A refused send (nothing bound yet) makes recv fail at once: then wait out the interval before the next.
            if buffer.withUnsafeMutableBytes({ recv(fd, $0.baseAddress, $0.count, 0) }) > 0 { return true }
            usleep(100_000)
        }
        return false
    }
}

/// Each process's view of the others, from the lines `gossip-node` prints on every membership change
/// (`<unix-ms> <observer> <member> <state>`, its documented output), read as they arrive: a test waits on a
/// condition over the views, woken by each new line, rather than polling files. (Unchecked: the views are behind a
/// mutex, and the condition is only a doorbell.)
final class MemberViews: @unchecked Sendable {
    private let views: Mutex<[[String: String]]>
    private let changed = NSCondition()

    init(count: Int) { views = Mutex(Array(repeating: [:], count: count)) }

    /// Reads `handle` to its end on a thread of its own (the process's death ends it), applying each line to view `i`.
    func follow(_ handle: FileHandle, of i: Int) {
        Thread.detachNewThread {
            var pending = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { return }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...newline)
                    let fields = line.split(separator: " ")
                    guard fields.count == 4 else { continue }
                    self.views.withLock { $0[i][String(fields[2])] = String(fields[3]) }
                    self.changed.lock()
                    self.changed.broadcast()
                    self.changed.unlock()
                }
            }
        }
    }

    /// Every view as it stands.
    func snapshot() -> [[String: String]] { views.withLock { $0 } }

    /// Waits until `condition` holds over the views, or `timeout` passes; returns whether it held.
    func wait(for timeout: Duration, _ condition: ([[String: String]]) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds(timeout))
        changed.lock()
        defer { changed.unlock() }
        while !condition(snapshot()) {
            // No change is missed: its broadcast needs this lock, which the wait alone releases.
            guard changed.wait(until: deadline) else { return condition(snapshot()) }
        }
        return true
    }
}
