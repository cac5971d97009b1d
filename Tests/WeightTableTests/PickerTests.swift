import Dispatch
import Testing
@testable import WeightTable

@Suite("Endpoint picker")
struct PickerTests {
    let t0 = ContinuousClock.now

    func table(_ weights: [String: Int], healthy: Int = 2, routes extra: [RouteSpec] = []) -> RoutingTable {
        var mesh = Mesh()
        for cluster in weights.keys.sorted() { mesh.cluster(cluster, healthy: healthy) }
        return TableBuilder.build(mesh.inputs([demoRoute(weights)] + extra), state: TableState(), now: t0).table
    }

    func counts(_ picker: EndpointPicker, route: Int = 0, picks: Int) -> [String: Int] {
        var counts: [String: Int] = [:]
        for _ in 0..<picks {
            if let endpoint = picker.pick(route: route) { counts[endpoint.cluster, default: 0] += 1 }
        }
        return counts
    }

    @Test func fiveHundredPicksAt20To80AreExactly100To400() {
        let picker = EndpointPicker(table: table(["c1": 20, "c2": 80]))
        #expect(counts(picker, picks: 500) == ["c1": 100, "c2": 400])
    }

    @Test func everyCycleIsExactForUnevenWeights() {
        let picker = EndpointPicker(table: table(["c1": 33, "c2": 33, "c3": 34]))
        #expect(counts(picker, picks: 100) == ["c1": 33, "c2": 33, "c3": 34])
        #expect(counts(picker, picks: 300) == ["c1": 99, "c2": 99, "c3": 102])
    }

    @Test func endpointsOfAClusterShareEvenly() {
        let picker = EndpointPicker(table: table(["c1": 20, "c2": 80], healthy: 3))
        var perEndpoint: [PickedEndpoint: Int] = [:]
        for _ in 0..<1500 { if let e = picker.pick(route: 0) { perEndpoint[e, default: 0] += 1 } }
        #expect(perEndpoint.count == 6)
        #expect(perEndpoint.filter { $0.key.cluster == "c1" }.values.allSatisfy { $0 == 100 })
        #expect(perEndpoint.filter { $0.key.cluster == "c2" }.values.allSatisfy { $0 == 400 })
    }

    @Test func picksFromManyThreadsStayExact() async {
        let picker = EndpointPicker(table: table(["c1": 20, "c2": 80]))
        let perTask = 10_000
        let results = await withTaskGroup(of: [String: Int].self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var counts: [String: Int] = [:]
                    for _ in 0..<perTask { if let e = picker.pick(route: 0) { counts[e.cluster, default: 0] += 1 } }
                    return counts
                }
            }
            var total: [String: Int] = [:]
            for await counts in group { total.merge(counts, uniquingKeysWith: +) }
            return total
        }
        #expect(results == ["c1": 16_000, "c2": 64_000])
    }

    @Test func nothingToServeIsNil() {
        let picker = EndpointPicker(table: .empty)
        #expect(picker.pick(route: 0) == nil)
        #expect(picker.pick(route: -1) == nil)
        #expect(picker.route(host: "x", path: "/") == nil)
    }

    @Test func retryGoesToAnotherCluster() throws {
        let picker = EndpointPicker(table: table(["c1": 20, "c2": 80]))
        let first = try #require(picker.pick(route: 0))
        for _ in 0..<10 {
            let retry = try #require(picker.pickRetry(route: 0, excluding: first))
            #expect(retry.cluster != first.cluster)
        }
    }

    @Test func retryWithOneClusterPicksAnotherEndpoint() throws {
        let picker = EndpointPicker(table: table(["c1": 100], healthy: 2))
        let first = try #require(picker.pick(route: 0))
        for _ in 0..<5 {
            let retry = try #require(picker.pickRetry(route: 0, excluding: first))
            #expect(retry != first)
        }
        let lonely = EndpointPicker(table: table(["c1": 100], healthy: 1))
        let only = try #require(lonely.pick(route: 0))
        #expect(lonely.pickRetry(route: 0, excluding: only) == nil)
    }

    @Test func routeMatchingFollowsKubernetes() {
        let routes = [
            RouteSpec(uncheckedHost: "shop.example.com", path: "/cart", pathType: .exact, service: "ns/cart-exact", weights: ["c1": 100]),
            RouteSpec(uncheckedHost: "shop.example.com", path: "/cart", pathType: .prefix, service: "ns/cart", weights: ["c1": 100]),
            RouteSpec(uncheckedHost: "shop.example.com", path: "/cart/items/", pathType: .prefix, service: "ns/items", weights: ["c1": 100]),
            RouteSpec(uncheckedHost: "shop.example.com", path: "/", pathType: .prefix, service: "ns/web", weights: ["c1": 100]),
            RouteSpec(uncheckedHost: "*.example.com", path: "/", pathType: .prefix, service: "ns/wild", weights: ["c1": 100]),
            RouteSpec(uncheckedHost: "", path: "/svc1", pathType: .prefix, service: "ns/any", weights: ["c1": 100]),
        ]
        var mesh = Mesh()
        mesh.cluster("c1", healthy: 1)
        let table = TableBuilder.build(mesh.inputs(routes), state: TableState(), now: t0).table
        let picker = EndpointPicker(table: table)
        func service(_ host: String, _ path: String) -> String? {
            picker.route(host: host, path: path).map { table.routes[$0].spec.service }
        }
        #expect(service("shop.example.com", "/cart") == "ns/cart-exact")
        #expect(service("SHOP.example.com:8001", "/cart") == "ns/cart-exact")
        #expect(service("shop.example.com", "/cart?x=1") == "ns/cart-exact")
        #expect(service("shop.example.com", "/cart/") == "ns/cart")
        #expect(service("shop.example.com", "/cart/items") == "ns/items")
        #expect(service("shop.example.com", "/cart/items/42") == "ns/items")
        #expect(service("shop.example.com", "/carts") == "ns/web")
        #expect(service("a.example.com", "/anything") == "ns/wild")
        #expect(service("a.b.example.com", "/svc1/x") == "ns/any")
        #expect(service("other.org", "/svc1") == "ns/any")
        #expect(service("other.org", "/svc10") == nil)
        #expect(service("other.org", "/") == nil)
    }

    @Test func seedRouteMatchesAsTheDemoExpects() throws {
        let routes = try IngressParser.routes(fromYAML: seedIngress, source: "ingress-demo.yaml", knownClusters: ["c1", "c2"])
        var mesh = Mesh()
        mesh.cluster("c1", healthy: 1)
        mesh.cluster("c2", healthy: 1)
        let picker = EndpointPicker(table: TableBuilder.build(mesh.inputs(routes), state: TableState(), now: t0).table)
        #expect(picker.route(host: "alb.ingress.alibaba.com:8001", path: "/svc1") == 0)
        #expect(picker.route(host: "alb.ingress.alibaba.com", path: "/svc1/page") == 0)
        #expect(picker.route(host: "alb.ingress.alibaba.com", path: "/svc10") == nil)
        #expect(picker.route(host: "elsewhere", path: "/svc1") == nil)
        #expect(counts(picker, picks: 500) == ["c1": 100, "c2": 400])
    }

    @Test func boxSwapsPickers() {
        let box = PickerBox(EndpointPicker(table: table(["c1": 20, "c2": 80])))
        #expect(box.load().table.effective() == ["c1": 20, "c2": 80])
        box.store(EndpointPicker(table: table(["c1": 100])))
        #expect(box.load().table.effective() == ["c1": 100])
    }

    @Test func boxIsSafeUnderConcurrentSwaps() async {
        let a = EndpointPicker(table: table(["c1": 20, "c2": 80]))
        let b = EndpointPicker(table: table(["c1": 100]))
        let box = PickerBox(a)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { for i in 0..<5_000 { box.store(i % 2 == 0 ? b : a) } }
            for _ in 0..<4 {
                group.addTask {
                    for _ in 0..<5_000 { #expect(box.load().pick(route: 0) != nil) }
                }
            }
        }
    }
}
