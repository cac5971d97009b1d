import Foundation
import Wire
import WeightTable
import XCTest

@testable import ZoneAgent

/// A file the Envoy output cannot write must be said, and must not keep the other services' files from
/// being written: the output used to stop at the first failure, leaving the rest of the services (in dictionary
/// order, so a different set each run) on an old assignment with nothing naming them.
final class EnvoyEDSWriteTests: XCTestCase {
    static let services = (0..<6).map { "shop/service\($0)" }

    static func table() -> RoutingTable {
        let routes = services.enumerated().map { i, service in
            RouteSpec(uncheckedHost: "shop.example", path: "/s\(i)", pathType: .prefix, service: service, weights: ["c1": 20, "c2": 80])
        }
        let digests = ["c1", "c2"].map { cluster in
            HealthDigest(origin: MemberIdentity(name: "\(cluster)-a", cluster: cluster, generation: 1), incarnation: 0,
                         version: 1, issuedAtMillis: 0,
                         endpoints: services.map { EndpointHealth(service: $0, host: cluster == "c1" ? "127.0.0.11" : "127.0.0.21", port: 8080, state: .healthy) })
        }
        let members = ["c1", "c2"].map { MemberView(name: "\($0)-a", cluster: $0, isLive: true) }
        let inputs = TableInputs(routes: routes, members: members, digests: digests, wallClockMillis: 1_764_000_000_000)
        return TableBuilder.build(inputs, state: TableState(), now: .now).table
    }

    func testOneFileThatCannotBeWrittenIsNamedAndTheOthersAreStillWritten() throws {
        let dir = NSTemporaryDirectory() + "eds-partial-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A non-empty directory where one service's file goes: no rename onto it can succeed, even as root.
        let blocked = dir + "/shop_service3.json"
        try FileManager.default.createDirectory(atPath: blocked, withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: blocked + "/keep", contents: Data()))

        let output = EnvoyEDSOutput(directory: dir)
        XCTAssertThrowsError(try output.write(Self.table())) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("envoy output: cannot rename \(dir)/.shop_service3.json.tmp to \(blocked): "), text)
            XCTAssertFalse(text.contains("service0"), "only the file that failed is named: \(text)")
        }
        let expected = try EnvoyEDSOutput.render(Self.table())
        for service in Self.services where service != "shop/service3" {
            let name = EnvoyEDSOutput.fileName(service: service)
            let written = FileManager.default.contents(atPath: dir + "/" + name)
            XCTAssertEqual(written.map { [UInt8]($0) }, expected[name], "\(name) is written although service3's file failed")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/.shop_service3.json.tmp"), "no temporary file is left behind")
    }

    func testDocumentsComeInFileNameOrderWithTheFirstRoutesWeights() throws {
        var table = Self.table()
        table.routes.append(table.routes[0])   // a second route naming service0: its weights are not used twice
        let documents = EnvoyEDSOutput.documents(table)
        XCTAssertEqual(documents.map(\.file), Self.services.map { EnvoyEDSOutput.fileName(service: $0) })
        let first = try XCTUnwrap(documents.first?.document.resources.first)
        XCTAssertEqual(first.clusterName, "shop/service0")
        XCTAssertEqual(first.endpoints.map(\.zone), ["c1", "c2"])
        XCTAssertEqual(first.endpoints.map(\.loadBalancingWeight), [20, 80])
    }

    func testTheEncodedDocumentUsesEnvoysFieldNames() throws {
        let (file, document) = try XCTUnwrap(EnvoyEDSOutput.documents(Self.table()).first)
        let text = String(decoding: try EnvoyEDSOutput.encode(document, file: file), as: UTF8.self)
        for key in ["\"version_info\"", "\"@type\" : \"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment\"",
                    "\"cluster_name\" : \"shop/service0\"", "\"lb_endpoints\"", "\"socket_address\"", "\"port_value\" : 8080",
                    "\"health_status\" : \"HEALTHY\"", "\"overprovisioning_factor\" : 100", "\"zone\" : \"c1\""] {
            XCTAssertTrue(text.contains(key), "\(key) in \(text)")
        }
    }
}
