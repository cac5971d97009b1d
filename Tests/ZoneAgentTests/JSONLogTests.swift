import Foundation
import Logging
import Synchronization
import XCTest

@testable import ZoneAgent

/// `--log-format json`: one JSON object a line that a log shipper reads without a parsing rule.
final class JSONLogTests: XCTestCase {
    final class Lines: Sendable {
        let stored = Mutex<[String]>([])
        func append(_ bytes: [UInt8]) { stored.withLock { $0.append(String(decoding: bytes, as: UTF8.self)) } }
        var all: [String] { stored.withLock { $0 } }
    }

    func testEachEventIsOneJSONObjectWithItsMetadataAsFields() throws {
        let lines = Lines()
        var handler = JSONLogHandler(label: "zone-agent") { lines.append($0) }
        handler.logLevel = .info
        handler[metadataKey: "node"] = "gw-1"
        let logger = Logger(label: "zone-agent") { _ in handler }
        logger.debug("not shown at info")
        logger.notice("routing change", metadata: [
            "route": "alb/svc1", "from": "80", "to": "0", "reason": "no live agent vouches for \"c2\"\nsee /v1/table",
            "agents": .array(["c2-a", "c2-b"]), "message": "cannot replace the message",
        ])
        logger.warning("record rejected")
        let all = lines.all
        XCTAssertEqual(all.count, 2)
        XCTAssertTrue(all.allSatisfy { $0.hasSuffix("\n") && $0.dropLast().contains("\n") == false }, "one line each: \(all)")
        let first = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(all[0].utf8)) as? [String: Any])
        XCTAssertEqual(first["level"] as? String, "notice")
        XCTAssertEqual(first["message"] as? String, "routing change")
        XCTAssertEqual(first["logger"] as? String, "zone-agent")
        XCTAssertEqual(first["node"] as? String, "gw-1")
        XCTAssertEqual(first["route"] as? String, "alb/svc1")
        XCTAssertEqual(first["reason"] as? String, "no live agent vouches for \"c2\"\nsee /v1/table")
        XCTAssertEqual(first["agents"] as? [String], ["c2-a", "c2-b"])
        XCTAssertNil(first["source"], "source only for warnings and worse")
        let time = try XCTUnwrap(first["time"] as? String)
        XCTAssertNotNil(try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(time), time)
        XCTAssertTrue(time.hasSuffix("Z"), time)
        let second = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(all[1].utf8)) as? [String: Any])
        XCTAssertEqual(second["level"] as? String, "warning")
        XCTAssertTrue((second["source"] as? String)?.hasPrefix("JSONLogTests.swift:") ?? false, "\(second)")
    }

    func testTextStaysTheDefault() {
        XCTAssertEqual(LogFormat(argument: "json"), .json)
        XCTAssertEqual(LogFormat(argument: "text"), .text)
        XCTAssertNil(LogFormat(argument: "xml"))
        if ProcessInfo.processInfo.environment["LOG_FORMAT"] == nil {
            XCTAssertEqual(LogFormat.fromEnvironment, .text)
        }
        XCTAssertNil(AgentCommand.parseOrNil(["--config", "a.yaml"])?.logFormat)
        XCTAssertEqual(AgentCommand.parseOrNil(["--config", "a.yaml", "--log-format", "json"])?.logFormat, .json)
        XCTAssertEqual(GatewayCommand.parseOrNil(["--config", "g.yaml", "--log-format", "json"])?.logFormat, .json)
        XCTAssertNil(GatewayCommand.parseOrNil(["--config", "g.yaml", "--log-format", "yaml"]))
    }
}

extension AgentCommand {
    static func parseOrNil(_ arguments: [String]) -> AgentCommand? { try? parse(arguments) }
}

extension GatewayCommand {
    static func parseOrNil(_ arguments: [String]) -> GatewayCommand? { try? parse(arguments) }
}
