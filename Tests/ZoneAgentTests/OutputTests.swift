import Foundation
import Wire
import WeightTable
import XCTest

@testable import ZoneAgent

/// Builds tables through the real builder, from digests, as the gateway does.
enum TableFixture {
    static let route = RouteSpec(uncheckedHost: "alb.ingress.alibaba.com", path: "/svc1", pathType: .prefix,
                                 service: "gateway-demo/service1", weights: ["c1": 20, "c2": 80])

    static func digest(cluster: String, hosts: [String], healthy: Bool = true) -> HealthDigest {
        HealthDigest(origin: MemberIdentity(name: "\(cluster)-a", cluster: cluster, generation: 1), incarnation: 0,
                     version: 1, issuedAtMillis: 0,
                     endpoints: hosts.map { EndpointHealth(service: route.service, host: $0, port: 8080, state: healthy ? .healthy : .unhealthy) })
    }

    static func table(liveClusters: [String]) -> RoutingTable {
        let digests = [digest(cluster: "c1", hosts: ["127.0.0.11", "127.0.0.12"]),
                       digest(cluster: "c2", hosts: ["127.0.0.21", "127.0.0.22"])]
        let members = ["c1", "c2"].map { MemberView(name: "\($0)-a", cluster: $0, isLive: liveClusters.contains($0)) }
        let inputs = TableInputs(routes: [route], members: members, digests: digests, wallClockMillis: 1_764_000_000_000)
        return TableBuilder.build(inputs, state: TableState(), now: .now).table
    }
}

final class EnvoyOutputTests: XCTestCase {
    func testOneLocalityPerLiveClusterWithItsWeight() throws {
        let files = try EnvoyEDSOutput.render(TableFixture.table(liveClusters: ["c1", "c2"]))
        let bytes = try XCTUnwrap(files["gateway-demo_service1.json"])
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        let resource = try XCTUnwrap((json["resources"] as? [[String: Any]])?.first)
        XCTAssertEqual(resource["cluster_name"] as? String, "gateway-demo/service1")
        XCTAssertEqual(resource["@type"] as? String, "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment")
        let localities = try XCTUnwrap(resource["endpoints"] as? [[String: Any]])
        let weights = localities.map { (($0["locality"] as? [String: Any])?["zone"] as? String ?? "", $0["load_balancing_weight"] as? Int ?? -1) }
        XCTAssertEqual(weights.map(\.0), ["c1", "c2"])
        XCTAssertEqual(weights.map(\.1), [20, 80])
        XCTAssertEqual((localities[0]["lb_endpoints"] as? [Any])?.count, 2)
    }

    func testAFailedClusterIsLeftOut() throws {
        let bytes = try XCTUnwrap(try EnvoyEDSOutput.render(TableFixture.table(liveClusters: ["c1"]))["gateway-demo_service1.json"])
        let text = String(decoding: bytes, as: UTF8.self)
        XCTAssertFalse(text.contains("127.0.0.21"))
        XCTAssertTrue(text.contains("\"load_balancing_weight\" : 100"))
    }

    func testWriteIsAtomicAndSkipsUnchangedFiles() throws {
        let dir = NSTemporaryDirectory() + "eds-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let output = EnvoyEDSOutput(directory: dir)
        try output.write(TableFixture.table(liveClusters: ["c1", "c2"]))
        let path = dir + "/gateway-demo_service1.json"
        let first = try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int
        try output.write(TableFixture.table(liveClusters: ["c1", "c2"]))
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int, first,
                       "an unchanged assignment is not rewritten")
        try output.write(TableFixture.table(liveClusters: ["c1"]))
        XCTAssertNotEqual(try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int, first,
                          "a changed assignment arrives as a new file (rename), never rewritten in place")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["gateway-demo_service1.json"])
    }
}

final class HAProxyOutputTests: XCTestCase {
    func testSlotsFromServersState() {
        let state = """
        1
        # be_id be_name srv_id srv_name srv_addr srv_op_state
        3 web-demo 1 zone1 0.0.0.0 0 0 1 1
        3 web-demo 3 zone10 0.0.0.0 0 0 1 1
        3 web-demo 2 zone2 0.0.0.0 0 0 1 1
        3 web-demo 4 static 10.0.0.1 2 0 1 1
        """
        XCTAssertEqual(HAProxyRuntimeOutput.slots(fromServersState: state, prefix: "zone"), ["zone1", "zone2", "zone10"])
    }

    func testCommandsScaleWeightsAndParkSpareSlots() {
        let commands = HAProxyRuntimeOutput.commands(for: TableFixture.table(liveClusters: ["c1", "c2"]), service: nil,
                                                     backend: "web-demo", slots: (1...5).map { "zone\($0)" })
        XCTAssertEqual(commands, [
            "set server web-demo/zone1 addr 127.0.0.11 port 8080", "set server web-demo/zone1 weight 64", "set server web-demo/zone1 state ready",
            "set server web-demo/zone2 addr 127.0.0.12 port 8080", "set server web-demo/zone2 weight 64", "set server web-demo/zone2 state ready",
            "set server web-demo/zone3 addr 127.0.0.21 port 8080", "set server web-demo/zone3 weight 256", "set server web-demo/zone3 state ready",
            "set server web-demo/zone4 addr 127.0.0.22 port 8080", "set server web-demo/zone4 weight 256", "set server web-demo/zone4 state ready",
            "set server web-demo/zone5 state maint",
        ])
        let failedOver = HAProxyRuntimeOutput.commands(for: TableFixture.table(liveClusters: ["c1"]), service: nil,
                                                       backend: "web-demo", slots: (1...4).map { "zone\($0)" })
        XCTAssertEqual(failedOver.filter { $0.hasSuffix("state maint") }, ["set server web-demo/zone3 state maint", "set server web-demo/zone4 state maint"])
    }
}
