import Foundation
import MeshCrypto
import Testing
@testable import WeightTable

@Suite("Ingress manifests")
struct IngressParserTests {
    let known: Set<String> = ["c1", "c2", "c3"]

    func parse(_ text: String, source: String = "ingress-demo.yaml") throws(RouteError) -> [RouteSpec] {
        try IngressParser.routes(fromYAML: text, source: source, knownClusters: known)
    }

    /// The error `text` is rejected with, as printed.
    func rejection(_ text: String) -> String? {
        do {
            _ = try parse(text)
            return nil
        } catch {
            return error.description
        }
    }

    /// The seed Ingress with one substring replaced.
    func variant(_ old: String, _ new: String) -> String {
        #expect(seedIngress.contains(old), "fixture no longer contains \(old)")
        return seedIngress.replacingOccurrences(of: old, with: new)
    }

    @Test func seedParsesToOneRouteAt20To80() throws {
        let routes = try parse(seedIngress)
        #expect(routes.count == 1)
        let route = try #require(routes.first)
        #expect(route.host == "alb.ingress.alibaba.com")
        #expect(route.path == "/svc1")
        #expect(route.pathType == .prefix)
        #expect(route.service == "gateway-demo/service1")
        #expect(route.weights == ["c1": 20, "c2": 80])
    }

    @Test func theTrustRosterDecidesWhichClustersMayHaveWeight() throws {
        let roster = try TrustRoster(yaml: """
            clusters:
              c1: [AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=]
              c3: [ISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0A=]
            """)
        #expect(throws: RouteError(source: "ingress-demo.yaml", field: "metadata.annotations[\"alb.ingress.kubernetes.io/cluster-weight.c2\"]",
                                   problem: "cluster \"c2\" is not in the trust roster (known: c1, c3)")) {
            try IngressParser.routes(fromYAML: seedIngress, source: "ingress-demo.yaml", roster: roster)
        }
        let renamed = variant("cluster-weight.c2:", "cluster-weight.c3:")
        #expect(try IngressParser.routes(fromYAML: renamed, source: "ingress-demo.yaml", roster: roster).first?.weights == ["c1": 20, "c3": 80])
    }

    @Test func weightsNotSummingTo100AreRejected() {
        #expect(rejection(variant("cluster-weight.c2: \"80\"", "cluster-weight.c2: \"70\""))
            == "ingress-demo.yaml: metadata.annotations[\"alb.ingress.kubernetes.io/cluster-weight.c2\"]: weights sum to 90, not 100")
    }

    @Test func negativeWeightIsRejected() {
        #expect(rejection(variant("cluster-weight.c1: \"20\"", "cluster-weight.c1: \"-20\""))
            == "ingress-demo.yaml: metadata.annotations[\"alb.ingress.kubernetes.io/cluster-weight.c1\"]: weight -20 is negative (expected an integer 0–100)")
    }

    @Test func nonIntegerWeightIsRejected() {
        #expect(rejection(variant("cluster-weight.c1: \"20\"", "cluster-weight.c1: \"20.5\""))
            == "ingress-demo.yaml: metadata.annotations[\"alb.ingress.kubernetes.io/cluster-weight.c1\"]: weight \"20.5\" is not an integer (expected 0–100)")
    }

    @Test func textWeightIsRejected() {
        #expect(rejection(variant("cluster-weight.c1: \"20\"", "cluster-weight.c1: \"twenty\""))
            == "ingress-demo.yaml: metadata.annotations[\"alb.ingress.kubernetes.io/cluster-weight.c1\"]: weight \"twenty\" is not an integer (expected 0–100)")
    }

    @Test func weightAbove100IsRejected() {
        #expect(rejection(variant("cluster-weight.c1: \"20\"", "cluster-weight.c1: \"120\""))
            == "ingress-demo.yaml: metadata.annotations[\"alb.ingress.kubernetes.io/cluster-weight.c1\"]: weight 120 is above 100 (expected an integer 0–100)")
    }

    @Test func unknownPathTypeIsRejected() {
        #expect(rejection(variant("pathType: Prefix", "pathType: ImplementationSpecific"))
            == "ingress-demo.yaml: spec.rules[0].http.paths[0].pathType: unknown pathType \"ImplementationSpecific\" (expected Prefix or Exact)")
    }

    @Test func missingPathTypeIsRejected() {
        #expect(rejection(variant("        pathType: Prefix\n", ""))
            == "ingress-demo.yaml: spec.rules[0].http.paths[0].pathType: is missing (expected Prefix or Exact)")
    }

    @Test func missingBackendIsRejected() {
        let text = variant("""
                    backend:
                      service:
                        name: service1
                        port:
                          number: 80

            """, "")
        #expect(rejection(text) == "ingress-demo.yaml: spec.rules[0].http.paths[0].backend: is missing (expected backend.service.name)")
    }

    @Test func missingServiceNameIsRejected() {
        #expect(rejection(variant("            name: service1\n", ""))
            == "ingress-demo.yaml: spec.rules[0].http.paths[0].backend.service.name: is missing (the backend names no service)")
    }

    @Test func missingServicePortIsRejected() {
        #expect(rejection(variant("            port:\n              number: 80\n", ""))
            == "ingress-demo.yaml: spec.rules[0].http.paths[0].backend.service.port: is missing (expected port.number or port.name)")
    }

    @Test func clusterOutsideTheTrustRosterIsRejected() {
        #expect(rejection(variant("cluster-weight.c2:", "cluster-weight.c9:"))
            == "ingress-demo.yaml: metadata.annotations[\"alb.ingress.kubernetes.io/cluster-weight.c9\"]: cluster \"c9\" is not in the trust roster (known: c1, c2, c3)")
    }

    @Test func missingWeightAnnotationsAreRejected() {
        let text = variant("""
                alb.ingress.kubernetes.io/cluster-weight.c1: "20"
                alb.ingress.kubernetes.io/cluster-weight.c2: "80"

            """, "")
        #expect(rejection(text)
            == "ingress-demo.yaml: metadata.annotations: has no alb.ingress.kubernetes.io/cluster-weight.<cluster> annotation (expected weights summing to 100)")
    }

    @Test func relativePathIsRejected() {
        #expect(rejection(variant("- path: /svc1", "- path: svc1"))
            == "ingress-demo.yaml: spec.rules[0].http.paths[0].path: \"svc1\" must be an absolute path starting with '/'")
    }

    @Test func wrongApiVersionIsRejected() {
        #expect(rejection(variant("networking.k8s.io/v1", "extensions/v1beta1"))
            == "ingress-demo.yaml: apiVersion: is \"extensions/v1beta1\", expected networking.k8s.io/v1")
    }

    @Test func otherKindIsRejected() {
        #expect(rejection(variant("kind: Ingress", "kind: Service")) == "ingress-demo.yaml: kind: is \"Service\", expected Ingress")
    }

    @Test func hostWithPortIsRejected() {
        #expect(rejection(variant("- host: alb.ingress.alibaba.com", "- host: alb.ingress.alibaba.com:8001"))
            == "ingress-demo.yaml: spec.rules[0].host: \"alb.ingress.alibaba.com:8001\" is not a host name (letters, digits, '-' and '.', optionally a leading '*.'; no port)")
    }

    @Test func missingRulesAreRejected() throws {
        let start = try #require(seedIngress.range(of: "  rules:")).lowerBound
        #expect(rejection(String(seedIngress[..<start])) == "ingress-demo.yaml: spec.rules: is missing or empty (the Ingress defines no route)")
    }

    @Test func invalidYAMLIsRejected() {
        let message = rejection("apiVersion: [unclosed")
        #expect(message?.hasPrefix("ingress-demo.yaml: is not valid YAML") == true)
    }

    @Test func emptyFileIsRejected() {
        #expect(rejection("# nothing\n") == "ingress-demo.yaml: holds no Ingress document")
    }

    @Test func duplicateRouteIsRejected() {
        let text = seedIngress + "---\n" + seedIngress.replacingOccurrences(of: "name: web-demo", with: "name: web-demo-2")
        #expect(rejection(text)
            == "ingress-demo.yaml (document 2): spec.rules[0].http.paths[0]: duplicates the route alb.ingress.alibaba.com/svc1 already defined at ingress-demo.yaml (document 1): spec.rules[0].http.paths[0]")
    }

    @Test func errorsInLaterDocumentsNameTheDocument() {
        let second = seedIngress.replacingOccurrences(of: "/svc1", with: "/svc2")
            .replacingOccurrences(of: "cluster-weight.c2: \"80\"", with: "cluster-weight.c2: \"81\"")
        #expect(rejection(seedIngress + "---\n" + second)
            == "ingress-demo.yaml (document 2): metadata.annotations[\"alb.ingress.kubernetes.io/cluster-weight.c2\"]: weights sum to 101, not 100")
    }

    @Test func severalIngressesAndRulesAreSupported() throws {
        let text = """
            apiVersion: networking.k8s.io/v1
            kind: Ingress
            metadata:
              name: shop
              annotations:
                alb.ingress.kubernetes.io/cluster-weight.c1: "50"
                alb.ingress.kubernetes.io/cluster-weight.c2: "30"
                alb.ingress.kubernetes.io/cluster-weight.c3: "20"
            spec:
              rules:
              - host: Shop.Example.com
                http:
                  paths:
                  - path: /cart
                    pathType: Exact
                    backend: {service: {name: cart, port: {number: 80}}}
                  - path: /
                    pathType: Prefix
                    backend: {service: {name: web, port: {name: http}}}
              - http:
                  paths:
                  - path: /status
                    pathType: Prefix
                    backend: {service: {name: status, port: {number: 8080}}}
            ---
            apiVersion: networking.k8s.io/v1
            kind: Ingress
            metadata:
              name: api
              namespace: api
              annotations:
                alb.ingress.kubernetes.io/cluster-weight.c1: 100
            spec:
              rules:
              - host: api.example.com
                http:
                  paths:
                  - path: /v1
                    pathType: Prefix
                    backend: {service: {name: api-v1, port: {number: 80}}}
            """
        let routes = try parse(text, source: "shop.yaml")
        #expect(routes.map(\.id) == ["shop.example.com=/cart", "shop.example.com/", "*/status", "api.example.com/v1"])
        #expect(routes.map(\.service) == ["default/cart", "default/web", "default/status", "api/api-v1"])
        #expect(routes[0].weights == ["c1": 50, "c2": 30, "c3": 20])
        #expect(routes[3].weights == ["c1": 100])
    }

    @Test func defaultBackendBecomesACatchAllRoute() throws {
        let text = variant("  rules:", "  defaultBackend:\n    service:\n      name: fallback\n      port:\n        number: 80\n  rules:")
        let routes = try parse(text)
        #expect(routes.map(\.id) == ["alb.ingress.alibaba.com/svc1", "*/"])
        #expect(routes[1].service == "gateway-demo/fallback")
    }
}
