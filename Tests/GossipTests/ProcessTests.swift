import Foundation
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
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gossip-processes-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // Below the ephemeral range (32768+ on Linux), so no outgoing connection holds one of these ports.
        let basePort = 20_000 + Int(getpid() % 3_000) * 4
        var processes: [Process] = []
        defer { for p in processes where p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        for i in 0..<4 {
            let p = Process()
            p.executableURL = binary
            p.arguments = ["--name", "p\(i)", "--cluster", "c\(i % 2)", "--bind", "127.0.0.1:\(basePort + i)", "--profile", "fast"]
                + (i > 0 ? ["--join", "127.0.0.1:\(basePort)"] : [])
            _ = FileManager.default.createFile(atPath: dir.appendingPathComponent("p\(i).out").path, contents: nil)
            p.standardOutput = try FileHandle(forWritingTo: dir.appendingPathComponent("p\(i).out"))
            _ = FileManager.default.createFile(atPath: dir.appendingPathComponent("p\(i).err").path, contents: nil)
            p.standardError = try FileHandle(forWritingTo: dir.appendingPathComponent("p\(i).err"))
            try p.run()
            processes.append(p)
            if i == 0 { Thread.sleep(forTimeInterval: 0.3) }
        }
        func lines(_ i: Int) -> [String] {
            ((try? String(contentsOf: dir.appendingPathComponent("p\(i).out"), encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
        func latest(_ i: Int) -> [String: String] {
            var state: [String: String] = [:]
            for line in lines(i) {
                let f = line.split(separator: " ")
                if f.count == 4 { state[String(f[2])] = String(f[3]) }
            }
            return state
        }
        func waitFor(_ seconds: Double, _ condition: () -> Bool) -> Double? {
            let start = Date()
            while Date().timeIntervalSince(start) < seconds {
                if condition() { return Date().timeIntervalSince(start) }
                Thread.sleep(forTimeInterval: 0.02)
            }
            return nil
        }
        let formed = waitFor(10) { (0..<4).allSatisfy { i in latest(i).values.filter { $0 == "alive" }.count == 3 } }
        XCTAssertNotNil(formed, "the processes never formed a mesh: \((0..<4).map(latest)); stderr: \((0..<4).map { (try? String(contentsOf: dir.appendingPathComponent("p\($0).err"), encoding: .utf8)) ?? "" })")
        kill(processes[3].processIdentifier, SIGKILL)
        let detected = waitFor(10) { (0..<3).allSatisfy { latest($0)["p3"] == "dead" } }
        XCTAssertNotNil(detected, "the killed process was not declared dead: \((0..<3).map(latest))")
        print("separate processes, fast profile: SIGKILLed member dead everywhere after \(detected ?? -1) s")
        // A graceful stop is a departure, not a death.
        kill(processes[2].processIdentifier, SIGTERM)
        let left = waitFor(5) { (0..<2).allSatisfy { latest($0)["p2"] == "left" } }
        XCTAssertNotNil(left, "SIGTERM did not make the member leave: \((0..<2).map(latest))")
    }
}
