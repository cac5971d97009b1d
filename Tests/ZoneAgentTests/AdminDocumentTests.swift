import Foundation
import Gossip
import Logging
import Synchronization
import Wire
import XCTest

@testable import ZoneAgent

/// The admin API's JSON is encoded from Codable documents: `/v1/members` keeps CONTRACT.md's shape, and a
/// document that cannot be encoded is answered 500, logged and counted instead of skipped in silence.
final class AdminDocumentTests: XCTestCase {
    func testMembersDocumentKeepsTheContractShape() throws {
        let members = [
            MemberSnapshot(identity: MemberIdentity(name: "c1-a", cluster: "c1", zone: "zone-a", generation: 42),
                           address: PeerAddress("127.0.0.1:7001")!, state: .suspect, incarnation: 3),
            MemberSnapshot(identity: MemberIdentity(name: "gw", cluster: "", zone: "", generation: 7),
                           address: PeerAddress("127.0.0.9:7001")!, state: .alive, incarnation: 0),
        ]
        let response = AdminAPI.json(MembersDocument(self: "gw", members: members), path: "/v1/members", logger: Logger(label: "test"))
        XCTAssertEqual(response.status, .ok)
        XCTAssertEqual(response.headers["content-type"], ["application/json"])
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
        XCTAssertEqual(object["self"] as? String, "gw")
        let first = try XCTUnwrap((object["members"] as? [[String: Any]])?.first)
        XCTAssertEqual(Set(first.keys), ["node", "cluster", "zone", "address", "state", "incarnation", "generation"])
        XCTAssertEqual(first["node"] as? String, "c1-a")
        XCTAssertEqual(first["state"] as? String, "suspect")
        XCTAssertEqual(first["address"] as? String, "127.0.0.1:7001")
        XCTAssertEqual(first["incarnation"] as? Int, 3)
        XCTAssertEqual(first["generation"] as? Int, 42)
        let decoded = try JSONDecoder().decode(MembersDocument.self, from: Data(response.body.readableBytesView))
        XCTAssertEqual(decoded, MembersDocument(self: "gw", members: members))
    }

    /// Before, `try?` turned an encoding failure into a bare 500 that nobody heard of.
    func testAnUnencodableDocumentIsAnswered500LoggedAndCounted() throws {
        struct Unencodable: Encodable {
            func encode(to encoder: any Encoder) throws {
                var container = encoder.singleValueContainer()
                try container.encode(Double.nan)   // JSON has no NaN
            }
        }
        let lines = LogCapture()
        let logger = Logger(label: "test") { _ in lines }
        func failures() -> String? {
            ZoneMetrics.render().split(separator: UInt8(ascii: "\n")).map { String(decoding: $0, as: UTF8.self) }
                .first { $0.hasPrefix(#"zone_agent_admin_encode_failures_total{path="/v1/members"}"#) }
        }
        _ = ZoneMetrics.admin
        let before = Int(failures()?.split(separator: " ").last ?? "") ?? -1
        let response = AdminAPI.json(Unencodable(), path: "/v1/members", logger: logger)
        XCTAssertEqual(response.status, .internalServerError)
        XCTAssertTrue(String(buffer: response.body).contains("cannot encode /v1/members as JSON"))
        XCTAssertEqual(Int(failures()?.split(separator: " ").last ?? ""), before + 1)
        XCTAssertEqual(lines.messages.count, 1)
        XCTAssertTrue(lines.messages.first?.contains("cannot encode an admin document") ?? false, "\(lines.messages)")
    }
}

/// A log handler that keeps each message with its level and metadata, for assertions.
final class LogCapture: LogHandler, @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        lock.withLock { stored.append("\(event.level) \(event.message) \(event.metadata ?? [:])") }
    }

    var messages: [String] { lock.withLock { stored } }
}
