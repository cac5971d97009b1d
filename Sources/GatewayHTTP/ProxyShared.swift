// What every client connection of one proxy shares: the table source, the hooks, the timeouts and
// the retry rules. Built once per proxy, read on every loop.

/// What every connection of one proxy shares; immutable.
final class ProxyShared: Sendable {
    let selector: any UpstreamSelector
    let hooks: ProxyHooks
    let timeouts: ClientTimeouts
    let retryBodyLimit: Int
    let limit: ConnectionLimit
    let resend: ResendPolicy
    /// Pinning a request to a cluster by a header; nil (the default) when no header is configured.
    let pin: ClusterPin?
    /// Endpoints whose connect failed a moment ago: retries avoid them.
    let unreachable = UnreachableUpstreams()

    init(
        selector: any UpstreamSelector, hooks: ProxyHooks, timeouts: ClientTimeouts, retryBodyLimit: Int, limit: ConnectionLimit,
        resend: ResendPolicy = ResendPolicy(), pin: ClusterPin? = nil
    ) {
        self.pin = pin
        self.selector = selector
        self.hooks = hooks
        self.timeouts = timeouts
        self.retryBodyLimit = retryBodyLimit
        self.limit = limit
        self.resend = resend
    }
}
