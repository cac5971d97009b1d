import Foundation
import Logging
import SeededRandom
import XCTest

@testable import KubernetesDiscovery

/// The Ingress watcher against the stand-in API server: only Ingresses of its class, added, changed and deleted as
/// they happen, and a relist when the server has forgotten the resourceVersion (410 Gone).
final class IngressWatcherTests: XCTestCase {
    private func withWatcher(
        namespaces: [String], _ body: (FakeAPIServer, Observed<[WatchedIngress]>) async throws -> Void
    ) async throws {
        let certificate = try TestCertificate.make()
        let server = try await FakeAPIServer.start(certificate: certificate, acceptedTokens: ["good-token"])
        let tokenPath = try certificate.writeFile("token", "good-token\n")
        let connection = KubernetesConnection(baseURL: server.baseURL, tokenPath: tokenPath, caPath: certificate.certificatePath)
        let settings = EndpointSliceWatcher.Settings(
            backoff: Backoff(initial: .milliseconds(20), maximum: .milliseconds(200), multiplier: 2, jitter: 0.5),
            watchTimeout: .seconds(60), requestTimeout: .seconds(5), idleTimeout: .seconds(10),
            makeRandomNumberGenerator: { SplitMix64(seed: 7) })
        let watcher = IngressWatcher(connection: connection, ingressClass: "alb", namespaces: namespaces, settings: settings,
                                     logger: Logger(label: "ingress-watcher-tests"))
        let seen = Observed<[WatchedIngress]>("ingress snapshots")
        let task = Task { try await watcher.run { seen.append($0) } }
        do { try await body(server, seen) } catch {
            task.cancel()
            await server.stop()
            certificate.remove()
            throw error
        }
        task.cancel()
        _ = try? await task.value
        await server.stop()
        certificate.remove()
    }

    /// Waits for a snapshot, from `from` on, whose Ingresses carry exactly these weights by `NAMESPACE/NAME`.
    private func waitFor(_ seen: Observed<[WatchedIngress]>, from: Int = 0, _ wanted: [String: String]) async throws {
        try await seen.first(from: from, "ingresses \(wanted)") { snapshot in
            Dictionary(uniqueKeysWithValues: snapshot.map { ($0.id, Self.weights($0.manifest)) }) == wanted
        }
    }

    /// The weight annotations of a manifest, as `c1=20,c2=80`.
    private static func weights(_ manifest: String) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(manifest.utf8)) as? [String: Any],
              let annotations = (object["metadata"] as? [String: Any])?["annotations"] as? [String: String] else { return "?" }
        let prefix = "alb.ingress.kubernetes.io/cluster-weight."
        return annotations.filter { $0.key.hasPrefix(prefix) }.map { "\($0.key.dropFirst(prefix.count))=\($0.value)" }.sorted()
            .joined(separator: ",")
    }

    func testAddChangeDeleteAndOnlyTheWatchedClass() async throws {
        try await withWatcher(namespaces: ["gateway-demo"]) { server, seen in
            server.upsertIngress(IngressFixture(namespace: "gateway-demo", name: "web"))
            server.upsertIngress(IngressFixture(namespace: "gateway-demo", name: "nginx-one", ingressClass: "nginx"))
            server.upsertIngress(IngressFixture(namespace: "elsewhere", name: "web"))
            try await waitFor(seen, ["gateway-demo/web": "c1=20,c2=80"])

            var from = seen.count
            server.upsertIngress(IngressFixture(namespace: "gateway-demo", name: "web", weights: ["c1": "50", "c2": "50"]))
            try await waitFor(seen, from: from, ["gateway-demo/web": "c1=50,c2=50"])

            from = seen.count
            server.upsertIngress(IngressFixture(namespace: "gateway-demo", name: "legacy", ingressClass: nil))
            server.upsertIngress(IngressFixture(namespace: "gateway-demo", name: "second", path: "/svc2"))
            try await waitFor(seen, from: from, ["gateway-demo/web": "c1=50,c2=50", "gateway-demo/second": "c1=20,c2=80"])

            from = seen.count
            server.deleteIngress(namespace: "gateway-demo", name: "web")
            try await waitFor(seen, from: from, ["gateway-demo/second": "c1=20,c2=80"])
            // A manifest the gateway's Ingress parser reads: apiVersion, kind, metadata, spec.
            let manifest = seen.items.last?.first?.manifest ?? ""
            XCTAssertTrue(manifest.contains("\"kind\":\"Ingress\"") && manifest.contains("\"apiVersion\":\"networking.k8s.io\\/v1\"")
                          || manifest.contains("\"apiVersion\":\"networking.k8s.io/v1\""), manifest)
        }
    }

    func testTheOlderClassAnnotationCountsAndEveryNamespaceIsWatchedWhenNoneIsNamed() async throws {
        try await withWatcher(namespaces: []) { server, seen in
            server.upsertIngress(IngressFixture(namespace: "a", name: "old-style", ingressClass: nil, classAnnotation: "alb",
                                                weights: ["c1": "100"]))
            server.upsertIngress(IngressFixture(namespace: "b", name: "web"))
            server.upsertIngress(IngressFixture(namespace: "b", name: "other", ingressClass: nil, classAnnotation: "nginx"))
            try await waitFor(seen, ["a/old-style": "c1=100", "b/web": "c1=20,c2=80"])
            XCTAssertTrue(server.requests.items.contains { $0.path == "/apis/networking.k8s.io/v1/ingresses" })
        }
    }

    func testA410RelistsAndPicksUpWhatChangedMeanwhile() async throws {
        try await withWatcher(namespaces: ["gateway-demo"]) { server, seen in
            server.upsertIngress(IngressFixture(namespace: "gateway-demo", name: "web"))
            try await waitFor(seen, ["gateway-demo/web": "c1=20,c2=80"])
            try await server.requests.first("the watch open") { $0.isWatch && $0.status == 200 }
            let lists = server.requests.items.filter { !$0.isWatch }.count
            let before = server.requests.count

            // The server forgets history and ends the watch with 410; the change made meanwhile arrives by the relist.
            server.compact()
            server.sendGoneEvent(FakeAPIServer.ingressKey("gateway-demo"))
            let from = seen.count
            server.upsertIngress(IngressFixture(namespace: "gateway-demo", name: "web", weights: ["c1": "70", "c2": "30"]))
            try await waitFor(seen, from: from, ["gateway-demo/web": "c1=70,c2=30"])
            try await server.requests.first(from: before, "a second list") { !$0.isWatch && $0.path.hasSuffix("/ingresses") }
            XCTAssertGreaterThan(server.requests.items.filter { !$0.isWatch }.count, lists, "relisted after 410")
        }
    }
}
