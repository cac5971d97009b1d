import GatewayHTTP
import NIOCore
import NIOHTTP1
import XCTest

/// Issue 11, item 4: a request takes one table when its head arrives and routes, picks and retries on
/// it, even when the gateway publishes another table in between.
final class TablePerRequestTests: XCTestCase {
    func testRequestRoutesPicksAndRetriesOnTheTableItTook() async throws {
        let dead = upstream("old-c1", try await refusedPort())
        let oldRetry = try await DemoBackend(name: "old-c2", port: 0).start()
        let newBackend = try await DemoBackend(name: "new-c1", port: 0).start()
        let selector = PublishingSelector()
        let newTable = RecordingTable(name: "new", pick: upstream("new-c1", newBackend.port), retry: upstream("new-c1", newBackend.port))
        // The old table publishes the new one the moment it has picked: the request's first try then
        // fails (nothing listens), and its retry must still come from the old table.
        let oldTable = RecordingTable(name: "old", pick: dead, retry: upstream("old-c2", oldRetry.port)) {
            selector.publish(newTable)
        }
        selector.publish(oldTable)
        let proxy = try await startProxy(selector)
        let client = try await TestHTTPClient.connect(port: proxy.port)

        let first = try await client.request(.GET, "/")
        XCTAssertEqual(first.status, .ok)
        XCTAssertEqual(first.headers.first(name: "x-zone-cluster"), "old-c2")
        XCTAssertEqual(oldTable.calls, ["route", "pick", "retry"])
        XCTAssertEqual(newTable.calls, [], "nothing of the first request may come from the table published during it")

        // The next request takes the new table.
        let second = try await client.request(.GET, "/")
        XCTAssertEqual(second.headers.first(name: "x-zone-cluster"), "new-c1")
        XCTAssertEqual(newTable.calls, ["route", "pick"])
        XCTAssertEqual(oldTable.calls, ["route", "pick", "retry"])
        await client.close()
        await proxy.shutdown()
        await oldRetry.shutdown()
        await newBackend.shutdown()
    }
}

/// A selector whose table the test publishes, as the gateway does.
private final class PublishingSelector: UpstreamSelector {
    private let current = Locked<RecordingTable?>(nil)

    func publish(_ table: RecordingTable) {
        current.withLock { $0 = table }
    }

    func currentTable() -> any UpstreamTable {
        current.withLock { $0 }!
    }
}

/// One route to every request; records which questions it was asked, in order.
private final class RecordingTable: UpstreamTable {
    let name: String
    private let picked: Upstream
    private let retry: Upstream
    private let afterPick: @Sendable () -> Void
    private let asked = Locked([String]())

    init(name: String, pick: Upstream, retry: Upstream, afterPick: @escaping @Sendable () -> Void = {}) {
        self.name = name
        self.picked = pick
        self.retry = retry
        self.afterPick = afterPick
    }

    var calls: [String] { asked.withLock { $0 } }

    func route(host: String, path: String) -> Int? {
        asked.withLock { $0.append("route") }
        return 0
    }

    func pick(route: Int) -> Upstream? {
        asked.withLock { $0.append("pick") }
        afterPick()
        return picked
    }

    func pickRetry(route: Int, excluding: Upstream) -> Upstream? {
        asked.withLock { $0.append("retry") }
        return retry
    }
}
