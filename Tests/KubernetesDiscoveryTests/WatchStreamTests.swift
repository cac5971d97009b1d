import Foundation
import NIOCore
import XCTest

@testable import KubernetesDiscovery

final class WatchStreamTests: XCTestCase {
    private func feed(_ splitter: inout LineSplitter, _ text: String) throws -> [String] {
        try splitter.feed(ByteBuffer(string: text)).map { String(decoding: $0, as: UTF8.self) }
    }

    func testSplitsLinesAcrossChunkBoundaries() throws {
        var splitter = LineSplitter(maxLineBytes: 100)
        XCTAssertEqual(try feed(&splitter, "{\"a\""), [])
        XCTAssertEqual(try feed(&splitter, ":1}\n{\"b\":2}\r\n\n{\"c\""), ["{\"a\":1}", "{\"b\":2}"])
        XCTAssertEqual(try feed(&splitter, ":3}\n"), ["{\"c\":3}"])
        XCTAssertEqual(try feed(&splitter, "{\"d\":4}"), [])
        XCTAssertEqual(splitter.finish().map { String(decoding: $0, as: UTF8.self) }, "{\"d\":4}")
        XCTAssertNil(splitter.finish())
    }

    func testRefusesOverlongLinesWhetherCompleteOrPartial() {
        var complete = LineSplitter(maxLineBytes: 8)
        XCTAssertNoThrow(try complete.feed(ByteBuffer(string: "12345678\n")))
        XCTAssertThrowsError(try complete.feed(ByteBuffer(string: "123456789\n"))) { error in
            XCTAssertEqual(error as? KubernetesDiscoveryError, .lineTooLong(limit: 8))
        }
        // The partial line must be refused as it grows, not once it is finally complete.
        var partial = LineSplitter(maxLineBytes: 8)
        XCTAssertNoThrow(try partial.feed(ByteBuffer(string: "12345")))
        XCTAssertThrowsError(try partial.feed(ByteBuffer(string: "6789")))
    }

    func testDecodesEveryEventType() throws {
        let slice = SliceFixture(name: "web-abc", endpoints: [EndpointFixture(addresses: ["10.0.0.1"])])
        let object = slice.object(namespace: "ns", service: "web", resourceVersion: 7)
        let lines = [
            jsonLine(["type": "ADDED", "object": object]),
            jsonLine(["type": "MODIFIED", "object": object]),
            jsonLine(["type": "DELETED", "object": object]),
            jsonLine(["type": "BOOKMARK", "object": ["kind": "EndpointSlice", "metadata": ["resourceVersion": "9"]]]),
            jsonLine(["type": "ERROR", "object": ["kind": "Status", "code": 410, "reason": "Expired", "message": "too old"]]),
        ]
        var decoder = WatchEventDecoder(maxLineBytes: 1 << 20)
        let events = try decoder.feed(ByteBuffer(string: lines.joined(separator: "\n") + "\n"))
        XCTAssertEqual(events.count, 5)
        guard case .added(let added) = events[0] else { return XCTFail("\(events[0])") }
        XCTAssertEqual(added.name, "web-abc")
        XCTAssertEqual(added.metadata.resourceVersion, "7")
        XCTAssertEqual(added.endpoints?.first?.addresses, ["10.0.0.1"])
        guard case .modified = events[1], case .deleted = events[2] else { return XCTFail("\(events)") }
        XCTAssertEqual(events[3], .bookmark(resourceVersion: "9"))
        XCTAssertEqual(events[4], .error(Status(code: 410, reason: "Expired", message: "too old")))
    }

    func testMalformedEventsAreTypedErrors() {
        let cases: [(String, String)] = [
            ("{not json", "not a valid"),
            (jsonLine(["type": "SHRUG", "object": [:]]), "unknown watch event type"),
            (jsonLine(["object": [:]]), "missing field 'type'"),
            (jsonLine(["type": "ADDED", "object": ["metadata": ["name": "x"], "addressType": "IPv4", "endpoints": [["conditions": [:]]]]]),
             "missing field 'addresses'"),
            (jsonLine(["type": "BOOKMARK", "object": ["metadata": [:]]]), "BOOKMARK without a resourceVersion"),
        ]
        for (line, expected) in cases {
            var decoder = WatchEventDecoder(maxLineBytes: 1 << 20)
            XCTAssertThrowsError(try decoder.feed(ByteBuffer(string: line + "\n")), line) { error in
                guard case .malformedResponse = error as? KubernetesDiscoveryError else {
                    return XCTFail("\(line): \(error)")
                }
                XCTAssertTrue(String(describing: error).contains(expected), "\(line): \(error)")
            }
        }
    }

    func testAppliesEventsToServiceState() throws {
        let slice = SliceFixture(name: "web-abc", endpoints: [EndpointFixture(addresses: ["10.0.0.1"])])
        let data = try JSONSerialization.data(withJSONObject: slice.object(namespace: "ns", service: "web", resourceVersion: 5))
        let decoded = try JSONDecoder().decode(EndpointSlice.self, from: data)
        var state = EndpointSliceWatcher.ServiceState(resourceVersion: "4")
        try EndpointSliceWatcher.apply(.added(decoded), to: &state)
        XCTAssertEqual(state.resourceVersion, "5")
        XCTAssertEqual(Array(state.slices.keys), ["web-abc"])
        try EndpointSliceWatcher.apply(.bookmark(resourceVersion: "8"), to: &state)
        XCTAssertEqual(state.resourceVersion, "8")
        try EndpointSliceWatcher.apply(.deleted(decoded), to: &state)
        XCTAssertTrue(state.slices.isEmpty)
        XCTAssertThrowsError(try EndpointSliceWatcher.apply(.error(Status(code: 410)), to: &state)) { error in
            XCTAssertEqual(error as? KubernetesDiscoveryError, .resourceVersionExpired("5"))
        }
        XCTAssertThrowsError(try EndpointSliceWatcher.apply(.error(Status(code: 500, message: "boom")), to: &state)) { error in
            XCTAssertEqual(error as? KubernetesDiscoveryError, .watchError(code: 500, message: "boom"))
        }
    }
}
