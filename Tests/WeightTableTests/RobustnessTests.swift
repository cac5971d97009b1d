import PropertyBased
import SeededRandom
import Testing
@testable import WeightTable

/// Whatever the input, the parsers answer with routes or a `RouteError`, and the table and picker never trap.
@Suite("Robustness")
struct RobustnessTests {
    static let alphabet = Array(" \n:-\"'[]{}#/.*!&|>0123456789abcxyz\t%".utf8)

    /// The seed Ingress with a few random bytes replaced, inserted or deleted.
    static func mutated(_ seed: UInt64) -> String {
        var rng = SplitMix64(seed: seed)
        var bytes = Array(seedIngress.utf8)
        for _ in 0..<Int.random(in: 1...6, using: &rng) {
            let at = Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: bytes[at] = alphabet[Int.random(in: 0..<alphabet.count, using: &rng)]
            case 1: bytes.insert(alphabet[Int.random(in: 0..<alphabet.count, using: &rng)], at: at)
            default: if bytes.count > 1 { bytes.remove(at: at) }
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test func mutatedIngressesParseOrFailWithAMessage() async {
        await propertyCheck(count: 500, input: Gen.uint64()) { seed in
            do {
                let routes = try IngressParser.routes(fromYAML: Self.mutated(seed), source: "m.yaml", knownClusters: ["c1", "c2"])
                for route in routes { #expect(route.weights.values.reduce(0, +) == 100) }
            } catch let error as RouteError {
                #expect(error.description.hasPrefix("m.yaml"))
            } catch {
                Issue.record("not a RouteError: \(error)")
            }
        }
    }

    @Test func arbitraryRequestsNeverTrapTheMatcher() async {
        var mesh = Mesh()
        mesh.cluster("c1", healthy: 1)
        let routes = [demoRoute(["c1": 100]), RouteSpec(uncheckedHost: "*.example.com", path: "/", pathType: .prefix, service: service1, weights: ["c1": 100])]
        let picker = EndpointPicker(table: TableBuilder.build(mesh.inputs(routes), state: TableState(), now: .now).table)
        await propertyCheck(count: 500, input: Gen.uint64()) { seed in
            var rng = SplitMix64(seed: seed)
            let host = String(decoding: (0..<Int.random(in: 0...20, using: &rng)).map { _ in Self.alphabet[Int.random(in: 0..<Self.alphabet.count, using: &rng)] }, as: UTF8.self)
            let path = String(decoding: (0..<Int.random(in: 0...20, using: &rng)).map { _ in Self.alphabet[Int.random(in: 0..<Self.alphabet.count, using: &rng)] }, as: UTF8.self)
            if let index = picker.route(host: host, path: path) { #expect(picker.pick(route: index) != nil) }
        }
        #expect(picker.route(host: "[::1]:8080", path: "/svc1") == nil)
        #expect(picker.route(host: "ALB.Ingress.Alibaba.COM.", path: "/svc1#frag") != nil)
    }

    @Test func nonsensePolicyFactorsDoNotTrap() {
        var mesh = Mesh()
        mesh.cluster("c1", healthy: 1, unhealthy: 1)
        mesh.cluster("c2", healthy: 2)
        for factor in [Double.nan, .infinity, -1, 0, 1e300] {
            let policy = TablePolicy(failover: .overprovision(factor: factor))
            let table = TableBuilder.build(mesh.inputs([demoRoute(["c1": 50, "c2": 50])]), state: TableState(), policy: policy, now: .now).table
            #expect(table.effective().values.reduce(0, +) == 100)
        }
    }

    @Test func hugeWeightsAreRejectedNotTrapped() {
        #expect(throws: RouteError.self) {
            try RouteSpec.inlineRoutes(fromYAML: "- {path: /a, service: ns/a, weights: {c1: 99999999999999999999999}}", source: "z.yaml", knownClusters: ["c1"])
        }
    }

    @Test func malformedTableJSONIsAnErrorNotATrap() {
        let bad = #"{"version":1,"hash":"x","generatedAt":"2026-11-25T03:00:00Z","isolated":false,"routes":[{"host":"h","path":"/","pathType":"Prefix","service":"a/b","clusters":[],"endpoints":[{"cluster":"c1","address":"1.2.3.4:80","weight":1e300}]}],"changes":[]}"#
        #expect(throws: (any Error).self) { try TableJSON.decode(Array(bad.utf8)) }
    }
}
