import Foundation

/// One drill's report, as written to `report.json` (and drawn in `report.html`).
struct DrillReport: Sendable, Codable {
    /// One expectation of the scenario and whether it held.
    struct Check: Sendable, Codable, Hashable {
        var what: String
        var held: Bool
    }

    /// A reason the table gave for a cluster's weight, when it changed.
    struct Reason: Sendable, Codable, Hashable {
        var atMs: Int
        var cluster: String
        var weight: Int
        var reason: String
    }

    /// One gateway of a drill that watches several (`split-mesh`): its own request stream and table.
    struct Gateway: Sendable, Codable {
        var name: String
        /// The clusters on its side of the cut.
        var side: [String]
        /// The cluster its figures follow: the first of the other side's, whose share it must move away.
        var cluster: String
        var figures: DrillFigures
        var reasons: [Reason]
        var timeline: DrillTimeline
    }

    var scenario: String
    var expectation: String
    var verdict: String
    var cluster: String
    var profile: String
    var startedAt: String
    var rate: Int
    var configuredWeights: [String: Int]
    var events: [DrillRecord.Event]
    var figures: DrillFigures
    var checks: [Check]
    var reasons: [Reason]
    var timeline: DrillTimeline
    /// Every gateway watched, where a drill watches more than one; the figures and timeline above are the first's.
    var gateways: [Gateway]?

    var held: Bool { checks.allSatisfy(\.held) }

    init(scenario: DrillScenario, cluster: String, profile: String, startedAt: Date, rate: Int,
         configured: [String: Int], record: DrillRecord, figures: DrillFigures, checks: [Check], gateways: [Gateway]? = nil) {
        self.scenario = scenario.rawValue
        self.expectation = scenario.expectation
        self.verdict = checks.allSatisfy(\.held) ? "held" : "failed"
        self.cluster = cluster
        self.profile = profile
        self.startedAt = ISO8601DateFormatter().string(from: startedAt)
        self.rate = rate
        self.configuredWeights = configured
        self.events = record.events
        self.figures = figures
        self.checks = checks
        self.reasons = Self.reasonChanges(record.samples)
        self.timeline = DrillTimeline(record: record)
        self.gateways = gateways
    }

    /// The samples' reasons, kept only where a cluster's weight or reason changed.
    static func reasonChanges(_ samples: [DrillRecord.TableSample]) -> [Reason] {
        var last: [String: (Int, String)] = [:]
        var out: [Reason] = []
        for sample in samples {
            for (cluster, weight) in sample.weights.sorted(by: { $0.key < $1.key }) {
                let reason = sample.reasons[cluster] ?? ""
                if let previous = last[cluster], previous == (weight, reason) { continue }
                last[cluster] = (weight, reason)
                out.append(Reason(atMs: sample.atMs, cluster: cluster, weight: weight, reason: reason))
            }
        }
        return out
    }

    func json() throws -> Data { try Self.encoder.encode(self) }

    /// Writes `report.json` (the report itself, or `{verdict, reports}` for several) and `report.html` into `dir`,
    /// which is made if it is missing.
    static func write(_ reports: [DrillReport], to dir: String) throws {
        struct Combined: Encodable { var verdict: String; var reports: [DrillReport] }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let json = reports.count == 1
            ? try reports[0].json()
            : try encoder.encode(Combined(verdict: reports.allSatisfy(\.held) ? "held" : "failed", reports: reports))
        try json.write(to: URL(fileURLWithPath: "\(dir)/report.json"))
        try DrillHTML.render(reports).write(toFile: "\(dir)/report.html", atomically: true, encoding: .utf8)
    }

    private static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return encoder
    }
}
