import Logging

/// One log line as the watcher emitted it.
struct LogRecord: Sendable, CustomStringConvertible {
    var level: Logger.Level
    var message: String
    var metadata: [String: String]

    var description: String {
        let fields = metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        return "\(level) \(message) \(fields)"
    }
}

/// Keeps log lines in an ``Observed`` log so tests assert on what was logged instead of scraping output.
struct CapturingLogHandler: LogHandler {
    let sink: Observed<LogRecord>
    var logLevel: Logger.Level = .debug
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        sink.append(LogRecord(
            level: event.level, message: event.message.description,
            metadata: merged.mapValues { "\($0)" }))
    }
}
