import Testing
@testable import WeightTable

@Suite("Inline routes")
struct InlineRoutesTests {
    let known: Set<String> = ["c1", "c2"]

    func rejection(_ yaml: String) -> String? {
        do {
            _ = try RouteSpec.inlineRoutes(fromYAML: yaml, source: "zone-agent.yaml", knownClusters: known)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func contractExampleParses() throws {
        let routes = try RouteSpec.inlineRoutes(fromYAML: """
            - host: alb.ingress.alibaba.com
              path: /svc1
              pathType: Prefix
              service: gateway-demo/service1
              weights: { c1: 20, c2: 80 }
            """, source: "zone-agent.yaml", knownClusters: known)
        #expect(routes == [RouteSpec(uncheckedHost: "alb.ingress.alibaba.com", path: "/svc1", pathType: .prefix,
                                     service: "gateway-demo/service1", weights: ["c1": 20, "c2": 80])])
    }

    @Test func plainValuesGoThroughTheSameValidation() {
        #expect(throws: RouteError(source: "zone-agent.yaml", field: "routes[3].weights", problem: "weights sum to 99, not 100")) {
            try RouteSpec(host: "a.example", path: "/", pathType: "Prefix", service: "ns/web", weights: ["c1": 19, "c2": 80],
                          knownClusters: known, source: "zone-agent.yaml", keyPath: "routes[3]")
        }
    }

    @Test func weightSumIsChecked() {
        #expect(rejection("- {path: /a, service: ns/a, weights: {c1: 20, c2: 70}}") == "zone-agent.yaml: routes[0].weights: weights sum to 90, not 100")
    }

    @Test func negativeWeightNamesItsKey() {
        #expect(rejection("- {path: /a, service: ns/a, weights: {c1: -20, c2: 120}}")
            == "zone-agent.yaml: routes[0].weights.c1: weight -20 is negative (expected an integer 0–100)")
    }

    @Test func fractionalWeightNamesItsKey() {
        #expect(rejection("- {path: /a, service: ns/a, weights: {c1: 20.5, c2: 79.5}}")
            == "zone-agent.yaml: routes[0].weights.c1: weight \"20.5\" is not an integer (expected 0–100)")
    }

    @Test func unknownClusterNamesItsKey() {
        #expect(rejection("- {path: /a, service: ns/a, weights: {c1: 20, c7: 80}}")
            == "zone-agent.yaml: routes[0].weights.c7: cluster \"c7\" is not in the trust roster (known: c1, c2)")
    }

    @Test func unknownPathTypeIsRejected() {
        #expect(rejection("- {path: /a, pathType: Regex, service: ns/a, weights: {c1: 100}}")
            == "zone-agent.yaml: routes[0].pathType: unknown pathType \"Regex\" (expected Prefix or Exact)")
    }

    @Test func serviceMustBeNamespaced() {
        #expect(rejection("- {path: /a, service: web, weights: {c1: 100}}")
            == "zone-agent.yaml: routes[0].service: \"web\" is not a service as NAMESPACE/NAME")
    }

    @Test func missingServiceIsRejected() {
        #expect(rejection("- {path: /a, weights: {c1: 100}}") == "zone-agent.yaml: routes[0].service: is missing (expected NAMESPACE/NAME)")
    }

    @Test func unknownKeyIsATypo() {
        #expect(rejection("- {path: /a, service: ns/a, weight: {c1: 100}}")
            == "zone-agent.yaml: routes[0].weight: is not a known key (expected host, minHealthy, path, pathType, priority, service, weights, whenNoneHealthy)")
    }

    @Test func secondEntryIsNamedByIndex() {
        #expect(rejection("""
            - {path: /a, service: ns/a, weights: {c1: 100}}
            - {path: /b, service: ns/b, weights: {c2: 50}}
            """) == "zone-agent.yaml: routes[1].weights: weights sum to 50, not 100")
    }
}
