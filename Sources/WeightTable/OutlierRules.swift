// How this gateway's outlier detection (OutlierView) enters the table: an ejected endpoint counts as unhealthy
// on every route of its cluster, and a demoted cluster keeps only its success rate's share, shown as degraded.
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
        let note = "demoted by this gateway: \(demotion.errorRate)% of its requests failed over \(demotion.windowText)"
        guard standing.canServe, standing.state != .recovering else {
            standing.reason += "; \(note)"
            return
        }
        standing.capacity *= demotion.capacity
        standing.state = .degraded
        standing.reason += "; \(note), share × \(fraction2(demotion.capacity))"
    }
}
