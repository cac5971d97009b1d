import Foundation

/// What a drill that did not hold prints from the mesh's own logs, so that a failure seen once (in CI, say) tells
/// whose judgement was late: an agent that went on reporting an endpoint healthy, or a gateway that did not hear it.
extension LocalMesh {
    /// The log lines in which the mesh changed its mind between `from` and `until`: endpoint health, probe shares
    /// and member states for the agents of `cluster`; routing changes of `cluster`, member states and records
    /// refused for every gateway. The text logs stamp whole seconds, so the window is widened by one each side. At
    /// most `perProcess` lines of each process (the first ones), under its name.
    func decisions(of cluster: String, from: Date, until: Date, perProcess: Int = 16) -> String {
        let markers = ["endpoint health changed", "probe share changed", "member ", "digest lease", "endpoints changed",
                       "probe loop", "record rejected", "cluster=\(cluster) from="]
        let window = from.addingTimeInterval(-1)...until.addingTimeInterval(1)
        let stamp = ISO8601DateFormatter()
        stamp.formatOptions = [.withInternetDateTime]
        return (agentNames(cluster) + gatewayNames).map { name in
            let text = (try? String(contentsOfFile: "\(dir)/\(name).log", encoding: .utf8)) ?? ""
            let lines = text.split(separator: "\n").filter { line in
                guard let first = line.split(separator: " ", maxSplits: 1).first, let at = stamp.date(from: String(first)),
                      window.contains(at) else { return false }
                return markers.contains { line.contains($0) }
            }
            guard !lines.isEmpty else { return "--- \(name): none" }
            let left = lines.count > perProcess ? " (\(lines.count - perProcess) later left out)" : ""
            return "--- \(name)\(left)\n" + lines.prefix(perProcess).joined(separator: "\n")
        }.joined(separator: "\n")
    }
}
