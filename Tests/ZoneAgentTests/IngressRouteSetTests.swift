import KubernetesDiscovery
import WeightTable
import XCTest

@testable import ZoneAgent

/// Routes from watched Ingresses: each parsed alone; a bad one refused while its previous routes keep serving.
final class IngressRouteSetTests: XCTestCase {
    let clusters: Set<String> = ["c1", "c2"]

    func ingress(_ id: String, c1: Int, c2: Int, path: String = "/svc1") -> WatchedIngress {
        let (namespace, name) = (id.split(separator: "/")[0], id.split(separator: "/")[1])
        let manifest = """
        {"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{"name":"\(name)","namespace":"\(namespace)",
         "annotations":{"alb.ingress.kubernetes.io/cluster-weight.c1":"\(c1)","alb.ingress.kubernetes.io/cluster-weight.c2":"\(c2)"}},
         "spec":{"rules":[{"host":"a.example","http":{"paths":[{"path":"\(path)","pathType":"Prefix",
         "backend":{"service":{"name":"service1","port":{"number":80}}}}]}}]}}
        """
        return WatchedIngress(id: id, manifest: manifest)
    }

    func testAddChangeBadWeightsFixAndDelete() {
        var set = IngressRouteSet()
        var update = set.update([ingress("demo/web", c1: 20, c2: 80)], knownClusters: clusters)
        XCTAssertEqual(update.routes.map(\.weights), [["c1": 20, "c2": 80]])
        XCTAssertEqual(update.routes.first?.service, "demo/service1")

        update = set.update([ingress("demo/web", c1: 50, c2: 50)], knownClusters: clusters)
        XCTAssertEqual(update.routes.map(\.weights), [["c1": 50, "c2": 50]])

        // Weights that do not sum to 100: refused once (one log line, one metric), the previous routes keep serving.
        update = set.update([ingress("demo/web", c1: 30, c2: 80)], knownClusters: clusters)
        XCTAssertEqual(update.routes.map(\.weights), [["c1": 50, "c2": 50]])
        XCTAssertEqual(Array(update.newlyRefused.keys), ["demo/web"])
        XCTAssertEqual(update.newlyRefused["demo/web"]?.source, "Ingress demo/web")
        XCTAssertTrue(update.newlyRefused["demo/web"]?.problem.contains("100") ?? false)
        update = set.update([ingress("demo/web", c1: 30, c2: 80), ingress("demo/two", c1: 10, c2: 90, path: "/svc2")],
                            knownClusters: clusters)
        XCTAssertEqual(update.newlyRefused, [:], "the same refusal is not reported again")
        XCTAssertEqual(update.routes.map(\.path), ["/svc2", "/svc1"], "NAMESPACE/NAME order: demo/two, demo/web")

        // The next good edit applies and clears the refusal.
        update = set.update([ingress("demo/web", c1: 40, c2: 60), ingress("demo/two", c1: 10, c2: 90, path: "/svc2")],
                            knownClusters: clusters)
        XCTAssertEqual(Array(update.cleared.keys), ["demo/web"])
        XCTAssertEqual(update.routes.map(\.weights), [["c1": 10, "c2": 90], ["c1": 40, "c2": 60]])

        // Deleted: its routes go.
        update = set.update([ingress("demo/two", c1: 10, c2: 90, path: "/svc2")], knownClusters: clusters)
        XCTAssertEqual(update.routes.map(\.path), ["/svc2"])
    }

    func testAnUnknownClusterIsRefusedAndTwoIngressesClaimingOnePathKeepTheFirst() {
        var set = IngressRouteSet()
        var update = set.update([ingress("demo/web", c1: 20, c2: 80)], knownClusters: ["c1"])
        XCTAssertEqual(update.routes, [])
        XCTAssertNotNil(update.newlyRefused["demo/web"])
        update = set.update([ingress("a/first", c1: 20, c2: 80), ingress("b/second", c1: 90, c2: 10)], knownClusters: clusters)
        XCTAssertEqual(update.routes.map(\.weights), [["c1": 20, "c2": 80]])
    }
}
