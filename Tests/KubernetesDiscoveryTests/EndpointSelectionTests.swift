import Foundation
import XCTest

@testable import KubernetesDiscovery

final class EndpointSelectionTests: XCTestCase {
    private let service = ServiceRef(namespace: "ns", name: "web")

    private func slices(_ fixtures: [SliceFixture]) throws -> [EndpointSlice] {
        try fixtures.map { fixture in
            let data = try JSONSerialization.data(
                withJSONObject: fixture.object(namespace: "ns", service: "web", resourceVersion: 1))
            return try JSONDecoder().decode(EndpointSlice.self, from: data)
        }
    }

    private func select(_ fixtures: [SliceFixture], port: PortSelector = .first) throws -> [DiscoveredEndpoint] {
        EndpointSelection.endpoints(of: service, slices: try slices(fixtures), port: port)
    }

    /// The candidate rule: serving and not terminating, with the API's defaults for absent conditions.
    func testConditionsDecideWhichEndpointsAreCandidates() throws {
        let table: [(ready: Bool?, serving: Bool?, terminating: Bool?, candidate: Bool, why: String)] = [
            (nil, nil, nil, true, "absent ready counts as ready, absent serving equals ready"),
            (true, nil, nil, true, "ready"),
            (false, nil, nil, false, "not ready and serving absent: serving equals ready"),
            (true, true, false, true, "ready and serving"),
            (false, true, false, true, "serving but not ready: probes decide"),
            (false, true, true, false, "draining"),
            (false, false, true, false, "terminating and no longer serving"),
            (true, true, true, false, "terminating even though ready"),
            (false, false, false, false, "not serving"),
            (nil, false, nil, false, "explicitly not serving"),
        ]
        for row in table {
            let endpoints = try select([
                SliceFixture(name: "a", endpoints: [
                    EndpointFixture(addresses: ["10.0.0.1"], ready: row.ready, serving: row.serving, terminating: row.terminating),
                ]),
            ])
            XCTAssertEqual(endpoints.count, row.candidate ? 1 : 0, row.why)
            if let endpoint = endpoints.first {
                XCTAssertEqual(endpoint.ready, row.ready ?? true, row.why)
                XCTAssertEqual(endpoint.serving, row.serving ?? (row.ready ?? true), row.why)
            }
        }
    }

    func testCarriesNodeAndZone() throws {
        let endpoints = try select([
            SliceFixture(name: "a", endpoints: [
                EndpointFixture(addresses: ["10.0.0.1"], nodeName: "node-1", zone: "zone-a"),
            ]),
        ])
        XCTAssertEqual(endpoints, [
            DiscoveredEndpoint(service: service, host: "10.0.0.1", port: 8080, nodeName: "node-1", zone: "zone-a"),
        ])
    }

    func testPortSelection() throws {
        let ports = [
            PortFixture(name: "dns", port: 53, proto: "UDP"),
            PortFixture(name: "metrics", port: 9090, proto: nil),
            PortFixture(name: "http", port: 8080, proto: "TCP"),
        ]
        let fixture = SliceFixture(name: "a", endpoints: [EndpointFixture(addresses: ["10.0.0.1"])], ports: ports)
        XCTAssertEqual(try select([fixture]).map(\.port), [9090], "first TCP port; absent protocol means TCP")
        XCTAssertEqual(try select([fixture], port: .named("http")).map(\.port), [8080])
        XCTAssertEqual(try select([fixture], port: .named("grpc")).map(\.port), [9090], "unknown name falls back")
        XCTAssertEqual(try select([fixture], port: .named("dns")).map(\.port), [9090], "a UDP port is never chosen")

        var allPorts = fixture
        allPorts.ports = [PortFixture(name: "", port: nil, proto: "TCP")]
        XCTAssertEqual(try select([allPorts]), [], "a slice without a port number cannot be dialled")
        var noPorts = fixture
        noPorts.ports = []
        XCTAssertEqual(try select([noPorts]), [], "ports: null")
        var outOfRange = fixture
        outOfRange.ports = [PortFixture(name: "http", port: 70000), PortFixture(name: "alt", port: 8443)]
        XCTAssertEqual(try select([outOfRange]).map(\.port), [8443])
    }

    func testMergesSlicesAndDeduplicatesPreferringReady() throws {
        let endpoints = try select([
            SliceFixture(name: "a", endpoints: [
                EndpointFixture(addresses: ["10.0.0.2"], ready: false, serving: true, terminating: false),
                EndpointFixture(addresses: ["10.0.0.1"]),
            ]),
            SliceFixture(name: "b", endpoints: [
                EndpointFixture(addresses: ["10.0.0.2"], ready: true, nodeName: "node-2"),
                EndpointFixture(addresses: ["10.0.0.3"]),
            ]),
        ])
        XCTAssertEqual(endpoints.map(\.address), ["10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"])
        XCTAssertEqual(endpoints[1].ready, true)
        XCTAssertEqual(endpoints[1].nodeName, "node-2")
    }

    func testAddressTypes() throws {
        let v6 = try select([
            SliceFixture(name: "a", addressType: "IPv6", endpoints: [EndpointFixture(addresses: ["fd00::1"])]),
        ])
        XCTAssertEqual(v6.map(\.address), ["[fd00::1]:8080"])
        XCTAssertEqual(v6.first?.host, "fd00::1")
        let unknown = try select([
            SliceFixture(name: "a", addressType: "Carrier-Pigeon", endpoints: [EndpointFixture(addresses: ["coo"])]),
            SliceFixture(name: "b", endpoints: [EndpointFixture(addresses: ["10.0.0.1"])]),
        ])
        XCTAssertEqual(unknown.map(\.host), ["10.0.0.1"], "an unknown address type skips that slice only")
    }

    func testEmptyEndpointsDecodeAsNone() throws {
        XCTAssertEqual(try select([SliceFixture(name: "a", endpoints: [])]), [])
    }
}
