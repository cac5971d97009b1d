import ArgumentParser
import Foundation
import Logging

/// How log lines are written: text for people (the default), JSON for log shippers.
enum LogFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case text
    case json

    /// `$LOG_FORMAT` when it names a format, else text: a container image can switch without new arguments.
    static var fromEnvironment: LogFormat {
        ProcessInfo.processInfo.environment["LOG_FORMAT"].flatMap { LogFormat(rawValue: $0.lowercased()) } ?? .text
    }
}

/// One JSON object a line on stderr: `time` (RFC 3339 UTC, milliseconds), `level`, `logger`, `message`, the
/// metadata as fields of their own (nested values stay nested), and `source` (file:line) for warnings and worse.
/// Fluent Bit, Vector and Promtail read it without a parsing rule.
struct JSONLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info
    let label: String
    private let write: @Sendable ([UInt8]) -> Void

    /// Writes to stderr, or to `write` (tests).
    init(label: String, write: @escaping @Sendable ([UInt8]) -> Void = JSONLogHandler.standardError) {
        self.label = label
        self.write = write
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields = metadata
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        let line = LogLine(time: Self.timestamp(Date()), level: event.level.rawValue, logger: label, message: event.message.description,
                           source: event.level >= .warning ? "\(Self.fileName(event.file)):\(event.line)" : nil,
                           fields: fields.mapValues(JSONValue.init))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        if var bytes = try? encoder.encode(line).map({ $0 }) {
            bytes.append(UInt8(ascii: "\n"))
            write(bytes)
        } else {
            // Strings always encode; this is unreachable, but a log line must never be lost without a trace.
            write(Array("{\"level\":\"error\",\"message\":\"a log line could not be encoded as JSON\"}\n".utf8))
        }
    }

    @Sendable static func standardError(_ bytes: [UInt8]) {
        FileHandle.standardError.write(Data(bytes))
    }

    static func timestamp(_ date: Date) -> String {
        Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(date)
    }

    private static func fileName(_ path: String) -> Substring {
        path.split(separator: "/").last ?? Substring(path)
    }

    /// One line: fixed fields first, the metadata merged in beside them.
    struct LogLine: Encodable {
        var time: String
        var level: String
        var logger: String
        var message: String
        var source: String?
        var fields: [String: JSONValue]

        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            // Metadata first, so a metadata key named like a fixed field cannot replace it.
            for (key, value) in fields where !["time", "level", "logger", "message", "source"].contains(key) {
                try container.encode(value, forKey: Key(stringValue: key))
            }
            try container.encode(time, forKey: Key(stringValue: "time"))
            try container.encode(level, forKey: Key(stringValue: "level"))
            try container.encode(logger, forKey: Key(stringValue: "logger"))
            try container.encode(message, forKey: Key(stringValue: "message"))
            try container.encodeIfPresent(source, forKey: Key(stringValue: "source"))
        }
    }

    /// A metadata value as JSON: strings, arrays and objects as they are.
    enum JSONValue: Encodable {
        case string(String)
        case array([JSONValue])
        case object([String: JSONValue])

        init(_ value: Logger.Metadata.Value) {
            switch value {
            case .string(let s): self = .string(s)
            case .stringConvertible(let c): self = .string(c.description)
            case .array(let a): self = .array(a.map(JSONValue.init))
            case .dictionary(let d): self = .object(d.mapValues(JSONValue.init))
            }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .string(let s): try container.encode(s)
            case .array(let a): try container.encode(a)
            case .object(let o): try container.encode(o)
            }
        }
    }
}
