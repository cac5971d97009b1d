import WeightTable

extension Config.FailoverConfig {
    /// The table policy these settings make (at start and on every reload).
    var policy: TablePolicy {
        TablePolicy(failover: mode.rule, holdDown: holdDown, slowStart: slowStart, digestLease: digestLease,
                    vouching: vouching, traffic: traffic)
    }
}
