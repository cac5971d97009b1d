import Foundation
import Testing
@testable import WeightTable

@Suite("Table JSON and text")
struct TableJSONTests {
    let t0 = ContinuousClock.now

    func contractTable() -> RoutingTable {
        var mesh = Mesh()
        mesh.agent("c1-a", cluster: "c1", endpoints: [("127.0.0.1", 18081, .healthy), ("127.0.0.1", 18082, .healthy)])
        mesh.agent("c2-a", cluster: "c2", endpoints: [("127.0.0.1", 18083, .healthy), ("127.0.0.1", 18084, .healthy)])
        let route = demoRoute(["c1": 20, "c2": 80])
        let first = TableBuilder.build(mesh.inputs([route], millis: 1_795_575_500_000), state: TableState(), now: t0)
        mesh.setLive("c2", false)
        return TableBuilder.build(mesh.inputs([route], millis: 1_795_575_600_000), state: first.state, now: t0.advanced(by: .seconds(1))).table
    }

    @Test func encodesTheContractShape() throws {
        let table = contractTable()
        let json = try #require(try JSONSerialization.jsonObject(with: Data(TableJSON.encode(table))) as? [String: Any])
        #expect(Set(json.keys) == ["version", "hash", "generatedAt", "isolated", "routes", "changes"])
        #expect(json["generatedAt"] as? String == "2026-11-25T03:00:00Z")
        #expect(json["isolated"] as? Bool == false)
        #expect(json["version"] as? Int == 2)
        let route = try #require((json["routes"] as? [[String: Any]])?.first)
        #expect(Set(route.keys) == ["host", "path", "pathType", "service", "clusters", "endpoints", "failStatic"])
        #expect(route["pathType"] as? String == "Prefix")
        #expect(route["service"] as? String == "gateway-demo/service1")
        let clusters = try #require(route["clusters"] as? [[String: Any]])
        #expect(Set(clusters[0].keys) == ["cluster", "configuredWeight", "effectiveWeight", "healthyEndpoints", "totalEndpoints", "state", "reason"])
        #expect(clusters[1]["state"] as? String == "failed")
        #expect(clusters[1]["reason"] as? String == "no live agent vouches for c2")
        #expect(clusters[1]["totalEndpoints"] as? Int == 2, "as CONTRACT.md shows: the endpoints c2's agents last reported")
        #expect(clusters[1]["healthyEndpoints"] as? Int == 0)
        let endpoints = try #require(route["endpoints"] as? [[String: Any]])
        #expect(endpoints.count == 2)
        #expect(endpoints[0]["address"] as? String == "127.0.0.1:18081")
        #expect(endpoints[0]["weight"] as? Int == 50)
        let change = try #require((json["changes"] as? [[String: Any]])?.last)
        #expect(Set(change.keys) == ["at", "route", "cluster", "from", "to", "reason"])
        #expect(change["from"] as? Int == 80)
        #expect(change["to"] as? Int == 0)
        let text = String(decoding: TableJSON.encode(table), as: UTF8.self)
        #expect(text.contains("\"weight\":50}"))
        #expect(text.contains("\"path\":\"/svc1\""))
    }

    @Test func roundTripsThroughJSON() throws {
        let table = contractTable()
        let decoded = try TableJSON.decode(TableJSON.encode(table))
        #expect(decoded == table)
        #expect(TableHash.hash(of: decoded.routes) == table.hash)
    }

    @Test func rejectsABadDocument() {
        #expect(throws: (any Error).self) { try TableJSON.decode(Array("{\"version\": 1}".utf8)) }
    }

    @Test func rendersLargeRoutesAsASummaryAndMarksFailStatic() {
        var mesh = Mesh()
        mesh.cluster("c1", healthy: 6)
        mesh.cluster("c2", healthy: 6)
        let route = demoRoute(["c1": 20, "c2": 80])
        let first = TableBuilder.build(mesh.inputs([route]), state: TableState(), now: t0)
        #expect(TableText.render(first.table).contains("  12 endpoints receive traffic (c1: 6 endpoints, 20%; c2: 6 endpoints, 80%)"))
        let isolated = TableBuilder.build(mesh.inputs([route], isolated: true), state: first.state, now: t0).table
        let text = TableText.render(isolated)
        #expect(text.contains("ISOLATED (fail static: last good weights kept)"))
        #expect(text.contains("[fail static]"))
    }

    @Test func rendersAlignedText() {
        let text = TableText.render(contractTable())
        #expect(text.contains("alb.ingress.alibaba.com /svc1 (Prefix) -> gateway-demo/service1"))
        #expect(text.contains("  CLUSTER  CONFIGURED  EFFECTIVE  HEALTHY  STATE   REASON"))
        #expect(text.contains("  c2               80          0      0/2  failed  no live agent vouches for c2"))
        #expect(text.contains("recent changes"))
    }
}
