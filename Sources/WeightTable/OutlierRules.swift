// How this gateway's outlier detection (OutlierView) enters the table: an ejected endpoint counts as unhealthy
// on every route of its cluster, and a demoted cluster is degraded with no share while another cluster can serve.
extension TableBuilder {
    /// Removes the ejected endpoints of `cluster` from `healthy`; returns their reasons, by address.
    static func ejected(_ healthy: inout [EndpointKey], cluster: String, outliers: OutlierView) -> [String] {
        var reasons: [String] = []
        healthy.removeAll { key in
            guard let reason = outliers.ejected[OutlierEndpoint(cluster: cluster, host: key.host, port: key.port)] else { return false }
            reasons.append(reason)
            return true
        }
        return reasons
    }

    /// Adds the ejections' reasons to a cluster's standing, and demotes it when its error rate says so.
    static func applyOutliers(_ standing: inout Standing, ejected: [String], outliers: OutlierView) {
        for reason in ejected { standing.reason += "; \(reason)" }
        guard let demotion = outliers.demoted[standing.cluster] else { return }
        let note = "demoted by this gateway: \(demotion.errorRate)% of its last \(demotion.requests) requests failed within \(demotion.windowText)"
        guard standing.canServe, standing.state != .recovering else {
            standing.reason += "; \(note)"
            return
        }
        // No share while another cluster can take it: a cluster failing half its requests or more does worse than
        // any share of it would. If none can, the table's standby rule still lets it serve.
        standing.capacity = 0
        standing.state = .degraded
        standing.reason += "; \(note), no share while another cluster can serve"
    }
}
