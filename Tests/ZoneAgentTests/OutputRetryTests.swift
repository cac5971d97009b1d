import Foundation
import Logging
import Synchronization
import WeightTable
import XCTest

@testable import ZoneAgent

/// A failed output push is retried, with a backoff and with no table change needed, until it succeeds; the
/// `zone_agent_outputs_behind` gauge counts the outputs that do not yet hold the newest table.
final class OutputRetryTests: XCTestCase {
    /// Short delays, so the tests wait milliseconds; the loop is the one the gateway runs.
    let quick = OutputBackoff(initial: .milliseconds(5), maximum: .milliseconds(40))

    override func setUp() {
        // The process's metrics backend must exist before the first gauge is made, as the daemons ensure at start.
        _ = ZoneMetrics.registry
    }

    /// Waits until `condition` holds, checking every 5 ms, for at most `seconds`.
    func waitUntil(_ what: String, seconds: Double = 10, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while !condition() {
            guard ContinuousClock.now < deadline else { throw Failure(what: what) }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Shared state for the stand-in outputs.
    final class Box<Value: Sendable>: Sendable {
        let mutex: Mutex<Value>
        init(_ value: Value) { mutex = Mutex(value) }
        func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
    }

    struct Failure: Error, CustomStringConvertible {
        var what: String
        var description: String { "timed out waiting for \(what)" }
    }

    /// The gauge's value as `/metrics` renders it.
    func behindGauge() -> Double? {
        let text = String(decoding: ZoneMetrics.registry.emitToBuffer(), as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix("zone_agent_outputs_behind ") {
            return Double(line.split(separator: " ").last ?? "")
        }
        return nil
    }

    func testAnEnvoyWriteThatFailsIsRetriedUntilThePathIsFixed() async throws {
        let root = NSTemporaryDirectory() + "envoy-retry-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        // A regular file where the output directory's parent should be: no write can succeed, even as root.
        let blocker = root + "/run"
        XCTAssertTrue(FileManager.default.createFile(atPath: blocker, contents: Data("not a directory".utf8)))
        let envoy = EnvoyEDSOutput(directory: blocker + "/envoy")
        let sync = OutputSync(outputs: [TableOutput(name: "envoy") { try envoy.write($0) }], backoff: quick,
                              logger: Logger(label: "test"))
        let runner = Task { await sync.run() }
        defer { runner.cancel() }

        sync.submit(TableFixture.table(liveClusters: ["c1", "c2"]))   // one table, and no other change after it
        try await waitUntil("three failed attempts") { sync.progressNow.failures >= 3 }
        XCTAssertEqual(sync.progressNow.behind, 1)
        XCTAssertEqual(behindGauge(), 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: blocker + "/envoy/gateway-demo_service1.json"))
        XCTAssertThrowsError(try envoy.write(TableFixture.table(liveClusters: ["c1", "c2"]))) {
            XCTAssertEqual("\($0)", "envoy output: cannot create the directory \(blocker)/envoy: Not a directory")
        }
        let fileAsDirectory = EnvoyEDSOutput(directory: blocker)
        XCTAssertThrowsError(try fileAsDirectory.write(TableFixture.table(liveClusters: ["c1", "c2"]))) {
            XCTAssertEqual("\($0)", "envoy output: cannot use \(blocker) as the output directory: it is not a directory")
        }

        // The operator frees the path; the next retry writes the same table.
        try FileManager.default.removeItem(atPath: blocker)
        try await waitUntil("the envoy output caught up") { sync.progressNow.behind == 0 }
        XCTAssertEqual(behindGauge(), 0)
        let written = try XCTUnwrap(FileManager.default.contents(atPath: blocker + "/envoy/gateway-demo_service1.json"))
        XCTAssertEqual([UInt8](written), try EnvoyEDSOutput.render(TableFixture.table(liveClusters: ["c1", "c2"]))["gateway-demo_service1.json"])

        // Caught up, it stops retrying.
        let attempts = sync.progressNow.attempts
        try await Task.sleep(for: .milliseconds(100))
        XCTAssertEqual(sync.progressNow.attempts, attempts)
    }

    func testAFailingOutputDoesNotHoldBackAnotherAndANewTableIsPushedAtOnce() async throws {
        // HAProxy's push goes through the same loop: here a stand-in that fails until told otherwise.
        let haproxyUp = Box(false)
        let applied = Box<[String: [UInt64]]>([:])
        let outputs = [
            TableOutput(name: "envoy") { table in applied.withLock { $0["envoy", default: []].append(table.version) } },
            TableOutput(name: "haproxy") { table in
                guard haproxyUp.withLock({ $0 }) else { throw OutputError(output: "haproxy", problem: "cannot connect") }
                applied.withLock { $0["haproxy", default: []].append(table.version) }
            },
        ]
        let sync = OutputSync(outputs: outputs, backoff: quick, logger: Logger(label: "test"))
        let runner = Task { await sync.run() }
        defer { runner.cancel() }

        var table = TableFixture.table(liveClusters: ["c1", "c2"])
        sync.submit(table)
        try await waitUntil("haproxy retried") { sync.progressNow.failures >= 3 }
        XCTAssertEqual(sync.progressNow.behind, 1)
        XCTAssertEqual(applied.withLock { $0["envoy"] }, [table.version], "envoy got the table once, and is not rewritten by retries")

        table.version += 1
        sync.submit(table)
        try await waitUntil("envoy got the new table") { applied.withLock { $0["envoy"] } == [table.version - 1, table.version] }

        haproxyUp.withLock { $0 = true }
        try await waitUntil("haproxy caught up") { sync.progressNow.behind == 0 }
        XCTAssertEqual(applied.withLock { $0["haproxy"] }, [table.version], "the newest table, not the one that failed first")
    }

    func testBackoffDoublesUpToItsMaximum() {
        let backoff = OutputBackoff()
        let delays = (1...9).map { backoff.delay(afterFailures: $0) }
        XCTAssertEqual(delays, [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(16),
                                .seconds(30), .seconds(30), .seconds(30)])
        XCTAssertEqual(backoff.delay(afterFailures: 0), .milliseconds(500))
        XCTAssertEqual(backoff.delay(afterFailures: .max), .seconds(30))
    }

    func testBacklogRetriesAfterTheBackoffOfTheLeastFailedOutput() {
        var backlog = OutputBacklog()
        backlog.succeeded("envoy", version: 1)
        XCTAssertNil(backlog.retryDelay(["envoy"], version: 1, backoff: OutputBackoff()))
        for _ in 1...5 { backlog.failed("haproxy") }
        backlog.failed("envoy")
        XCTAssertEqual(backlog.retryDelay(["envoy", "haproxy"], version: 2, backoff: OutputBackoff()), .milliseconds(500))
        backlog.succeeded("envoy", version: 2)
        XCTAssertEqual(backlog.retryDelay(["envoy", "haproxy"], version: 2, backoff: OutputBackoff()), .seconds(8))
    }
}

extension OutputRetryTests {
    /// A reload that changes `outputs:` puts the new ones in force, and they get the newest table at once, even
    /// one with the name of an output that already held it.
    func testReplacedOutputsGetTheNewestTableAtOnce() async throws {
        let old = Box<[UInt64]>([]), new = Box<[UInt64]>([])
        let sync = OutputSync(outputs: [TableOutput(name: "envoy") { t in old.withLock { $0.append(t.version) } }], backoff: quick,
                              logger: Logger(label: "test"))
        let runner = Task { await sync.run() }
        defer { runner.cancel() }
        var table = RoutingTable.empty
        table.version = 7
        sync.submit(table)
        try await waitUntil("the first output holds v7") { old.withLock { $0 } == [7] }
        sync.replace([TableOutput(name: "envoy") { t in new.withLock { $0.append(t.version) } }])
        try await waitUntil("the new output holds v7") { new.withLock { $0 } == [7] }
        XCTAssertEqual(old.withLock { $0 }, [7], "the replaced output is no longer pushed")
        sync.replace([])
        try await waitUntil("no output is behind") { sync.progressNow.behind == 0 }
    }
}
