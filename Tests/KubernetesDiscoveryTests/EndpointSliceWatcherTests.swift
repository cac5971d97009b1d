import Foundation
import Logging
import XCTest

@testable import KubernetesDiscovery

/// The watcher against the stand-in API server, over real HTTPS sockets on 127.0.0.1.
final class EndpointSliceWatcherTests: XCTestCase {
    private let web = "shop/web"
    private let api = "shop/api"

    private func slice(_ name: String, _ addresses: String..., ready: Bool? = true) -> SliceFixture {
        SliceFixture(name: name, endpoints: addresses.map { EndpointFixture(addresses: [$0], ready: ready) })
    }

    private func withHarness(
        services: [String], slices: [String: [SliceFixture]] = [:], token: String = "good-token",
        acceptedTokens: Set<String> = ["good-token"], port: PortSelector = .first, maxLineBytes: Int = 4 << 20,
        maxListBytes: Int = 1 << 20, requestTimeout: Duration = .seconds(5), idleTimeout: Duration = .seconds(10),
        _ body: (Harness) async throws -> Void
    ) async throws {
        let harness = try await Harness(
            services: services, slices: slices, token: token, acceptedTokens: acceptedTokens, port: port,
            maxLineBytes: maxLineBytes, maxListBytes: maxListBytes, requestTimeout: requestTimeout,
            idleTimeout: idleTimeout)
        do {
            try await body(harness)
        } catch {
            try? await harness.stop()
            throw error
        }
        try await harness.stop()
    }

    func testInitialListYieldsEndpoints() async throws {
        try await withHarness(services: [web], slices: [web: [slice("web-1", "10.0.0.1", "10.0.0.2")]]) { harness in
            let endpoints = try await harness.waitFor(web, addresses: ["10.0.0.1:8080", "10.0.0.2:8080"])
            XCTAssertEqual(endpoints.first?.service, ServiceRef(namespace: "shop", name: "web"))
            let list = try await harness.waitForRequest("list of web") { !$0.isWatch }
            XCTAssertEqual(list.query["labelSelector"], "kubernetes.io/service-name=web")
            XCTAssertEqual(list.authorization, "Bearer good-token")
            try await harness.waitForWatch(web, resourceVersion: harness.server.resourceVersion)
            let watch = try await harness.waitForRequest("watch") { $0.isWatch }
            XCTAssertEqual(watch.query["allowWatchBookmarks"], "true")
            XCTAssertNotNil(watch.query["timeoutSeconds"].flatMap(Int.init))
        }
    }

    func testServiceWithoutSlicesIsReportedEmpty() async throws {
        try await withHarness(services: [web]) { harness in
            try await harness.waitFor(web, addresses: [])
        }
    }

    func testWatchEventsUpdateTheSet() async throws {
        try await withHarness(services: [web], slices: [web: [slice("web-1", "10.0.0.1")]]) { harness in
            try await harness.waitFor(web, addresses: ["10.0.0.1:8080"])
            try await harness.waitForWatch(web, resourceVersion: harness.server.resourceVersion)

            harness.server.upsert(web, slice("web-2", "10.0.0.5"))
            try await harness.waitFor(web, addresses: ["10.0.0.1:8080", "10.0.0.5:8080"])

            harness.server.upsert(web, slice("web-1", "10.0.0.1", "10.0.0.2"))
            try await harness.waitFor(web, addresses: ["10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.5:8080"])

            harness.server.delete(web, slice: "web-2")
            try await harness.waitFor(web, addresses: ["10.0.0.1:8080", "10.0.0.2:8080"])

            harness.server.delete(web, slice: "web-1")
            try await harness.waitFor(web, addresses: [])
        }
    }

    func testConditionsChangeMembership() async throws {
        try await withHarness(services: [web], slices: [web: [slice("web-1", "10.0.0.1", "10.0.0.2")]]) { harness in
            try await harness.waitFor(web, addresses: ["10.0.0.1:8080", "10.0.0.2:8080"])
            // 10.0.0.2 starts draining: ready false, still serving, terminating.
            harness.server.upsert(web, SliceFixture(name: "web-1", endpoints: [
                EndpointFixture(addresses: ["10.0.0.1"]),
                EndpointFixture(addresses: ["10.0.0.2"], ready: false, serving: true, terminating: true),
            ]))
            try await harness.waitFor(web, addresses: ["10.0.0.1:8080"])
            // 10.0.0.1 fails its readiness probe but is not terminating, with serving absent: excluded.
            // 10.0.0.3 is new, serving but not ready: a candidate; the agent's probes decide.
            harness.server.upsert(web, SliceFixture(name: "web-1", endpoints: [
                EndpointFixture(addresses: ["10.0.0.1"], ready: false),
                EndpointFixture(addresses: ["10.0.0.3"], ready: false, serving: true, terminating: false),
            ]))
            let endpoints = try await harness.waitFor(web, addresses: ["10.0.0.3:8080"])
            XCTAssertEqual(endpoints.first?.ready, false)
            XCTAssertEqual(endpoints.first?.serving, true)
            // Absent conditions count as ready.
            harness.server.upsert(web, SliceFixture(name: "web-1", endpoints: [
                EndpointFixture(addresses: ["10.0.0.4"], ready: nil),
            ]))
            let absent = try await harness.waitFor(web, addresses: ["10.0.0.4:8080"])
            XCTAssertEqual(absent.first?.ready, true)
        }
    }

    func testNamedPortIsChosen() async throws {
        let fixture = SliceFixture(
            name: "web-1", endpoints: [EndpointFixture(addresses: ["10.0.0.1"])],
            ports: [PortFixture(name: "metrics", port: 9090), PortFixture(name: "http", port: 8080)])
        try await withHarness(services: [web], slices: [web: [fixture]], port: .named("http")) { harness in
            try await harness.waitFor(web, addresses: ["10.0.0.1:8080"])
        }
    }

    func testDroppedWatchResumesFromTheLastResourceVersion() async throws {
        try await withHarness(services: [web], slices: [web: [slice("web-1", "10.0.0.1")]]) { harness in
            try await harness.waitFor(web, addresses: ["10.0.0.1:8080"])
            try await harness.waitForWatch(web, resourceVersion: harness.server.resourceVersion)

            let seen = harness.server.upsert(web, slice("web-1", "10.0.0.1", "10.0.0.2"))
            try await harness.waitFor(web, addresses: ["10.0.0.1:8080", "10.0.0.2:8080"])
            // A change the open watch never delivers: the resumed watch must replay it.
            harness.server.upsert(web, slice("web-2", "10.0.0.9"), notify: false)
            let mark = harness.server.requests.count
            harness.server.dropWatches()

            try await harness.waitForWatch(web, resourceVersion: seen, from: mark)
            try await harness.waitFor(web, addresses: ["10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.9:8080"])
            let relists = harness.server.requests.items[mark...].filter { !$0.isWatch }
            XCTAssertEqual(relists.count, 0, "a dropped watch resumes; it must not list again")
            try await harness.events.first("retry after the drop") {
                if case .retrying(_, .transport, _) = $0 { return true }
                return false
            }
        }
    }

    func testBookmarkAdvancesTheResumePoint() async throws {
        try await withHarness(services: [web], slices: [web: [slice("web-1", "10.0.0.1")]]) { harness in
            try await harness.waitFor(web, addresses: ["10.0.0.1:8080"])
            try await harness.waitForWatch(web, resourceVersion: harness.server.resourceVersion)
            let bookmark = harness.server.bookmark(web)
            // The bookmark changes no endpoint, so wait for it through a marker event after it.
            let marker = harness.server.upsert(web, slice("web-2", "10.0.0.2"))
            try await harness.waitFor(web, addresses: ["10.0.0.1:8080", "10.0.0.2:8080"])
            XCTAssertGreaterThan(marker, bookmark)
            let mark = harness.server.requests.count
            harness.server.dropWatches()
            try await harness.waitForWatch(web, resourceVersion: marker, from: mark)
        }
    }

    func testGoneOnTheWatchRequestRelists() async throws {
        try await withHarness(services: [web], slices: [web: [slice("web-1", "10.0.0.1")]]) { harness in
            try await harness.waitFor(web, addresses: ["10.0.0.1:8080"])
            let first = harness.server.resourceVersion
            try await harness.waitForWatch(web, resourceVersion: first)
            // Changes the client misses, then the history is compacted past its resourceVersion.
            harness.server.upsert(web, slice("web-1", "10.0.0.7"), notify: false)
            harness.server.compact()
            let current = harness.server.resourceVersion
            let mark = harness.server.requests.count
            harness.server.dropWatches()

            try await harness.waitForRequest(from: mark, "410 for the old watch") {
                $0.isWatch && $0.resourceVersion == String(first) && $0.status == 410
            }
            try await harness.waitForRequest(from: mark, "a new list") { !$0.isWatch && $0.status == 200 }
            try await harness.waitForWatch(web, resourceVersion: current, from: mark)
            try await harness.waitFor(web, addresses: ["10.0.0.7:8080"])
            try await harness.events.first("relisting event") { $0 == .relisting(ServiceRef(namespace: "shop", name: "web")) }
        }
    }

    func testGoneErrorEventRelists() async throws {
        try await withHarness(services: [web], slices: [web: [slice("web-1", "10.0.0.1")]]) { harness in
            try await harness.waitFor(web, addresses: ["10.0.0.1:8080"])
            try await harness.waitForWatch(web, resourceVersion: harness.server.resourceVersion)
            harness.server.upsert(web, slice("web-1", "10.0.0.8"), notify: false)
            harness.server.compact()
            let current = harness.server.resourceVersion
            let mark = harness.server.requests.count
            harness.server.sendGoneEvent(web)

            try await harness.waitForRequest(from: mark, "a new list") { !$0.isWatch && $0.status == 200 }
            try await harness.waitForWatch(web, resourceVersion: current, from: mark)
            try await harness.waitFor(web, addresses: ["10.0.0.8:8080"])
            XCTAssertFalse(
                harness.server.requests.items[mark...].contains { $0.status == 410 },
                "the ERROR event alone must trigger the relist")
        }
    }

    func testWrongTokenIsRetriedWithBackoffUntilItWorks() async throws {
        try await withHarness(
            services: [web], slices: [web: [slice("web-1", "10.0.0.1")]], token: "stale-token"
        ) { harness in
            let failure = try await harness.events.first("a 401 failure") {
                if case .retrying(_, .httpStatus(401, _, _), _) = $0 { return true }
                return false
            }
            guard case .retrying(_, let error, let delay) = failure else { return XCTFail("\(failure)") }
            XCTAssertTrue(String(describing: error).contains("token"), String(describing: error))
            XCTAssertGreaterThan(delay, .zero)
            // It keeps retrying, with growing delays, and reports nothing it does not know.
            try await harness.events.first(from: 2, "a third failure") {
                if case .retrying = $0 { return true }
                return false
            }
            let delays = harness.events.items.compactMap { event -> Duration? in
                if case .retrying(_, _, let delay) = event { return delay }
                return nil
            }
            XCTAssertGreaterThan(delays[2], delays[0])
            XCTAssertTrue(harness.snapshots.items.isEmpty)
            let logged = try await harness.logs.first("a warning about the 401") {
                $0.level == .warning && ($0.metadata["error"] ?? "").contains("HTTP 401")
            }
            XCTAssertEqual(logged.metadata["service"], "shop/web")
            XCTAssertNotNil(logged.metadata["retry_in"])

            // The operator fixes the token: the next attempt reads the file and succeeds.
            _ = try harness.certificate.writeFile("token", "good-token")
            try await harness.waitFor(web, addresses: ["10.0.0.1:8080"])
        }
    }

    func testRotatedTokenFileIsUsedOnReconnect() async throws {
        try await withHarness(services: [web], slices: [web: [slice("web-1", "10.0.0.1")]]) { harness in
            try await harness.waitFor(web, addresses: ["10.0.0.1:8080"])
            try await harness.waitForWatch(web, resourceVersion: harness.server.resourceVersion)
            _ = try harness.certificate.writeFile("token", "rotated-token\n")
            harness.server.setAcceptedTokens(["rotated-token"])
            let mark = harness.server.requests.count
            harness.server.dropWatches()
            let watch = try await harness.waitForRequest(from: mark, "watch with the rotated token") {
                $0.isWatch && $0.status == 200
            }
            XCTAssertEqual(watch.authorization, "Bearer rotated-token")
            XCTAssertFalse(harness.server.requests.items[mark...].contains { $0.status == 401 })
        }
    }

    func testMalformedEventReconnectsAndResumes() async throws {
        try await withHarness(services: [web], slices: [web: [slice("web-1", "10.0.0.1")]]) { harness in
            try await harness.waitFor(web, addresses: ["10.0.0.1:8080"])
            let version = harness.server.resourceVersion
            try await harness.waitForWatch(web, resourceVersion: version)
            let mark = harness.server.requests.count
            harness.server.sendRaw(web, "{\"type\":\"ADDED\",\"object\":{\"metadata\":")
            try await harness.events.first("malformed event failure") {
                if case .retrying(_, .malformedResponse, _) = $0 { return true }
                return false
            }
            try await harness.waitForWatch(web, resourceVersion: version, from: mark)
            harness.server.upsert(web, slice("web-1", "10.0.0.2"))
            try await harness.waitFor(web, addresses: ["10.0.0.2:8080"])
        }
    }

    func testOverlongEventLineReconnects() async throws {
        try await withHarness(
            services: [web], slices: [web: [slice("web-1", "10.0.0.1")]], maxLineBytes: 4096
        ) { harness in
            try await harness.waitFor(web, addresses: ["10.0.0.1:8080"])
            let version = harness.server.resourceVersion
            try await harness.waitForWatch(web, resourceVersion: version)
            let mark = harness.server.requests.count
            // No newline ever comes: the watcher must give up at the limit, not buffer forever.
            harness.server.sendRaw(web, String(repeating: "x", count: 10_000))
            try await harness.events.first("line too long") {
                $0 == .retrying(ServiceRef(namespace: "shop", name: "web"), error: .lineTooLong(limit: 4096), delay: $0.delay)
            }
            try await harness.waitForWatch(web, resourceVersion: version, from: mark)
        }
    }

    func testOversizedListIsRefusedAndRetried() async throws {
        let many = (1...40).map { "10.0.\($0 / 250).\($0 % 250)" }
        let fixture = SliceFixture(name: "web-1", endpoints: many.map { EndpointFixture(addresses: [$0]) })
        try await withHarness(services: [web], slices: [web: [fixture]], maxListBytes: 2048) { harness in
            try await harness.events.first("list too large") {
                $0 == .retrying(ServiceRef(namespace: "shop", name: "web"), error: .responseTooLarge(limit: 2048), delay: $0.delay)
            }
            XCTAssertTrue(harness.snapshots.items.isEmpty)
        }
    }

    func testStalledListTimesOutAndIsRetried() async throws {
        try await withHarness(
            services: [web], slices: [web: [slice("web-1", "10.0.0.1")]], requestTimeout: .milliseconds(300)
        ) { harness in
            harness.server.stallLists(true)
            let failure = try await harness.events.first("a list timeout") {
                if case .retrying(_, .transport(let detail), _) = $0 { return detail.contains("longer than") }
                return false
            }
            XCTAssertTrue(harness.snapshots.items.isEmpty, "\(failure)")
            harness.server.stallLists(false)
            try await harness.waitFor(web, addresses: ["10.0.0.1:8080"])
        }
    }

    func testSilentWatchIsResumedAfterTheIdleTimeout() async throws {
        try await withHarness(
            services: [web], slices: [web: [slice("web-1", "10.0.0.1")]], idleTimeout: .milliseconds(400)
        ) { harness in
            try await harness.waitFor(web, addresses: ["10.0.0.1:8080"])
            let version = harness.server.resourceVersion
            try await harness.waitForWatch(web, resourceVersion: version)
            let mark = harness.server.requests.count
            // The server says nothing: the watcher must give up on the silent stream and watch again.
            try await harness.waitForWatch(web, resourceVersion: version, from: mark)
            try await harness.events.first("an idle failure") {
                if case .retrying(_, .transport(let detail), _) = $0 { return detail.contains("presumed dead") }
                return false
            }
            XCTAssertFalse(harness.server.requests.items[mark...].contains { !$0.isWatch }, "resumed, not relisted")
        }
    }

    func testTwoServicesAreWatchedSeparately() async throws {
        try await withHarness(
            services: [web, api, web],
            slices: [web: [slice("web-1", "10.0.0.1")], api: [slice("api-1", "10.0.1.1"), slice("api-2", "10.0.1.2")]]
        ) { harness in
            try await harness.waitFor(web, addresses: ["10.0.0.1:8080"])
            try await harness.waitFor(api, addresses: ["10.0.1.1:8080", "10.0.1.2:8080"])
            let apiRef = ServiceRef(namespace: "shop", name: "api")
            try await harness.snapshots.first("both services in one snapshot") { $0.count == 2 }
            try await harness.events.first("api watching") {
                if case .watching(apiRef, _) = $0 { return true }
                return false
            }
            try await harness.events.first("web watching") {
                if case .watching(ServiceRef(namespace: "shop", name: "web"), _) = $0 { return true }
                return false
            }

            let mark = harness.snapshots.count
            harness.server.delete(api, slice: "api-2")
            let snapshot = try await harness.snapshots.first(from: mark, "api shrinks") {
                $0[apiRef]?.map(\.address) == ["10.0.1.1:8080"]
            }
            XCTAssertEqual(snapshot[ServiceRef(namespace: "shop", name: "web")]?.map(\.address), ["10.0.0.1:8080"])
            let lists = harness.server.requests.items.filter { !$0.isWatch }
            XCTAssertEqual(lists.count, 2, "one list per distinct service: \(lists)")
        }
    }

    func testUntrustedServerCertificateIsATransportErrorNotACrash() async throws {
        var quietLogger = Logger(label: "untrusted")
        quietLogger.logLevel = .critical
        // A second, unrelated certificate plays the CA: the server's certificate does not chain to it.
        let other = try TestCertificate.make()
        defer { other.remove() }
        try await withHarness(services: [web], slices: [web: [slice("web-1", "10.0.0.1")]]) { harness in
            let connection = KubernetesConnection(
                baseURL: harness.server.baseURL, tokenPath: harness.tokenPath, caPath: other.certificatePath)
            let events = Observed<DiscoveryEvent>("untrusted events")
            let watcher = EndpointSliceWatcher(
                connection: connection, services: [ServiceRef(namespace: "shop", name: "other")],
                settings: .init(
                    backoff: Backoff(initial: .milliseconds(20), maximum: .milliseconds(50)),
                    requestTimeout: .seconds(1)),
                logger: quietLogger, observer: { events.append($0) })
            let task = Task { try await watcher.run { _ in } }
            try await events.first("TLS failure") {
                if case .retrying(_, .transport, _) = $0 { return true }
                return false
            }
            task.cancel()
            try await task.value
            XCTAssertFalse(
                harness.server.requests.items.contains { $0.query["labelSelector"]?.hasSuffix("=other") == true },
                "no request may reach an untrusted server")
        }
    }
}

extension DiscoveryEvent {
    /// The retry delay, so a test can match an event without knowing the jittered delay.
    fileprivate var delay: Duration {
        if case .retrying(_, _, let delay) = self { return delay }
        return .zero
    }
}
