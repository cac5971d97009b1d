import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import XCTest

/// Real zone-agent processes on loopback for integration tests: started from the built binary, killed with real
/// signals, their logs kept in a temporary directory that is printed when a test fails.
///
/// Every fleet gets its own 127.x.y.z addresses, so fixed ports never collide with another run or service.
final class Fleet: @unchecked Sendable {
    let dir: String
    let binary: String
    let net: Int
    private var processes: [String: Process] = [:]
    let http = HTTPClient(eventLoopGroupProvider: .singleton,
                          configuration: .init(timeout: .init(connect: .seconds(2), read: .seconds(5))))

    init() throws {
        dir = NSTemporaryDirectory() + "fleet-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("zone-agent").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw XCTSkip("zone-agent is not built next to the tests (\(binary)); run `swift build` first")
        }
        net = 100 + Int(getpid()) % 150
    }

    /// An address of this fleet: 127.NET.GROUP.HOST.
    func ip(_ group: Int, _ host: Int) -> String { "127.\(net).\(group).\(host)" }

    /// Runs the binary to completion (keygen) and returns its exit status.
    @discardableResult
    func run(_ arguments: [String]) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = arguments
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// Starts a long-running process named `name`, its output in `DIR/name.log`.
    func start(_ name: String, _ arguments: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = arguments
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        FileManager.default.createFile(atPath: "\(dir)/\(name).log", contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(dir)/\(name).log"))
        p.standardOutput = log
        p.standardError = log
        try p.run()
        processes[name] = p
    }

    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: "\(dir)/\(name)", atomically: true, encoding: .utf8)
    }

    /// Sends `signal` to the named processes and waits for them to exit.
    func kill(_ names: [String], signal: Int32 = SIGKILL) {
        for name in names { if let p = processes[name], p.isRunning { Foundation.kill(p.processIdentifier, signal) } }
        for name in names { processes[name]?.waitUntilExit() }
    }

    func isRunning(_ name: String) -> Bool { processes[name]?.isRunning ?? false }

    func exitStatus(_ name: String) -> Int32? {
        guard let p = processes[name], !p.isRunning else { return nil }
        return p.terminationStatus
    }

    func stopAll() {
        kill(Array(processes.keys))
        try? http.syncShutdown()
    }

    func logs() -> String {
        processes.keys.sorted().map { name in
            let text = (try? String(contentsOfFile: "\(dir)/\(name).log", encoding: .utf8)) ?? ""
            return "--- \(name).log (last lines)\n" + text.split(separator: "\n").suffix(15).joined(separator: "\n")
        }.joined(separator: "\n")
    }

    // MARK: HTTP

    struct Answer: Sendable {
        var status: UInt
        var cluster: String?
        var body: String
    }

    func get(_ url: String, host: String? = nil) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        if let host { request.headers.replaceOrAdd(name: "Host", value: host) }
        let response = try await http.execute(request, timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 16 << 20)
        return Answer(status: response.status.code, cluster: response.headers.first(name: "x-zone-cluster"), body: String(buffer: body))
    }

    func json(_ url: String) async throws -> [String: Any] {
        let answer = try await get(url)
        return (try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]) ?? [:]
    }

    /// Polls `condition` every 50 ms until it holds or `timeout` passes; returns how long it took.
    @discardableResult
    func waitFor(_ what: String, timeout: Duration, _ condition: () async -> Bool) async throws -> Duration {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < timeout {
            if await condition() { return ContinuousClock.now - start }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw FleetError.timedOut(what: what, after: timeout, logs: logs())
    }
}

enum FleetError: Error, CustomStringConvertible {
    case timedOut(what: String, after: Duration, logs: String)
    var description: String {
        switch self {
        case .timedOut(let what, let after, let logs): return "timed out after \(after) waiting for \(what)\n\(logs)"
        }
    }
}
