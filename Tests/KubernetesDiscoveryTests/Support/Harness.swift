import Foundation
import Logging
import SeededRandom
import XCTest

@testable import KubernetesDiscovery

/// A stand-in API server plus a running watcher, with everything the watcher reports recorded.
final class Harness: Sendable {
    typealias Snapshot = [ServiceRef: [DiscoveredEndpoint]]

    let certificate: TestCertificate
    let server: FakeAPIServer
    let tokenPath: String
    let snapshots = Observed<Snapshot>("endpoint snapshots")
    let events = Observed<DiscoveryEvent>("discovery events")
    let logs = Observed<LogRecord>("log lines")
    private let task: Task<Void, any Error>

    /// Starts the server holding `slices` and a watcher of `services` that trusts it through a CA file.
    init(
        services: [String], slices: [String: [SliceFixture]] = [:], token: String = "good-token",
        acceptedTokens: Set<String> = ["good-token"], port: PortSelector = .first,
        maxLineBytes: Int = 4 << 20, maxListBytes: Int = 1 << 20, requestTimeout: Duration = .seconds(5),
        idleTimeout: Duration = .seconds(10)
    ) async throws {
        certificate = try TestCertificate.make()
        server = try await FakeAPIServer.start(certificate: certificate, acceptedTokens: acceptedTokens)
        for (service, fixtures) in slices {
            for fixture in fixtures { server.upsert(service, fixture) }
        }
        tokenPath = try certificate.writeFile("token", token + "\n")
        let connection = KubernetesConnection(
            baseURL: server.baseURL + "/", tokenPath: tokenPath, caPath: certificate.certificatePath)
        let settings = EndpointSliceWatcher.Settings(
            backoff: Backoff(initial: .milliseconds(20), maximum: .milliseconds(200), multiplier: 2, jitter: 0.5),
            watchTimeout: .seconds(60), requestTimeout: requestTimeout, idleTimeout: idleTimeout,
            maxLineBytes: maxLineBytes,
            maxListBytes: maxListBytes,
            makeRandomNumberGenerator: { SplitMix64(seed: 42) })
        let logs = self.logs
        let logger = Logger(label: "k8s-discovery-tests") { _ in CapturingLogHandler(sink: logs) }
        let events = self.events
        let watcher = EndpointSliceWatcher(
            connection: connection, services: try services.map { try ServiceRef(parsing: $0) }, port: port,
            settings: settings, logger: logger, observer: { events.append($0) })
        let snapshots = self.snapshots
        task = Task { try await watcher.run { snapshots.append($0) } }
    }

    /// Stops the watcher, which must return within a few seconds of being cancelled (even on a loaded machine), then the server.
    func stop() async throws {
        let returned = Observed<Bool>("watcher return")
        let task = self.task
        Task {
            _ = try? await task.value
            returned.append(true)
        }
        task.cancel()
        try await returned.first(timeout: .seconds(3), "run() to return after cancellation") { $0 }
        await server.stop()
        certificate.remove()
    }

    /// Waits for a snapshot, from index `from` on, in which `service` has exactly these `host:port` addresses.
    @discardableResult
    func waitFor(
        _ service: String, addresses: [String], from: Int = 0, timeout: Duration = .seconds(5)
    ) async throws -> [DiscoveredEndpoint] {
        let ref = try ServiceRef(parsing: service)
        let wanted = addresses.sorted()
        let snapshot = try await snapshots.first(from: from, timeout: timeout, "\(service) = \(wanted)") { snapshot in
            snapshot[ref].map { $0.map(\.address).sorted() } == wanted
        }
        return snapshot[ref] ?? []
    }

    /// Waits for the server to have answered a request matching `predicate`, from index `from` on.
    @discardableResult
    func waitForRequest(
        from: Int = 0, _ what: String, where predicate: @escaping @Sendable (FakeAPIServer.Request) -> Bool
    ) async throws -> FakeAPIServer.Request {
        try await server.requests.first(from: from, what, where: predicate)
    }

    /// Waits until the server holds an open watch of `service` from `resourceVersion`.
    func waitForWatch(_ service: String, resourceVersion: Int, from: Int = 0) async throws {
        let path = Self.path(of: service)
        try await waitForRequest(from: from, "watch of \(service) from \(resourceVersion)") {
            $0.isWatch && $0.path == path && $0.resourceVersion == String(resourceVersion) && $0.status == 200
        }
    }

    static func path(of service: String) -> String {
        let namespace = service.split(separator: "/").first.map(String.init) ?? ""
        return "/apis/discovery.k8s.io/v1/namespaces/\(namespace)/endpointslices"
    }
}
