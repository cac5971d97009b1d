// What the proxy does with a request head, decided before any byte goes upstream: the head is
// checked (RequestFields), its path normalised (RequestPath), then routed; the outcome is either the
// upstream head to send or the answer the proxy gives itself. A pure function of the head and the table.
import NIOCore
import NIOHTTP1

/// The proxy's decision about one request head.
enum RequestPlan {
    /// Send the request upstream.
    case forward(ForwardPlan)
    /// Answer it here; `close` when the connection cannot carry another request after it.
    case answer(HTTPResponseStatus, StaticString, close: Bool)

    /// A routed request, encoded for the upstream hop.
    struct ForwardPlan {
        /// The route in the table the request took; its retry comes from the same table.
        var route: RouteHandle
        var upstream: Upstream
        /// The upstream request head, encoded once: every try (the retry too) writes these same bytes.
        var head: ByteBuffer
        var framing: RequestFraming
        /// The client waits for `100 Continue` before sending its body.
        var expectsContinue: Bool
    }

    /// Checks, normalises and routes a request head.
    ///
    /// The request is routed by its normalised path and that path is what the upstream gets, so routing
    /// and upstream agree on it; an absolute-form target goes upstream in origin form, its authority as
    /// the `Host`. Refusals of the head's framing close the connection (where the next request starts
    /// is no longer certain); so does a final answer to a request whose body waits for `100 Continue`.
    static func make(
        _ head: HTTPRequestHead, table: any UpstreamTable, clientIP: String, forwarded: String, allocator: ByteBufferAllocator,
        pin: ClusterPin? = nil
    ) -> RequestPlan {
        let fields: RequestFields
        switch RequestFields.inspect(head) {
        case .success(let inspected): fields = inspected
        case .failure(let rejection): return .answer(rejection.status, rejection.reason, close: true)
        }
        let authority = RequestTarget.absoluteAuthority(head.uri)
        if let authority, !RequestFields.isValidHost(authority) {
            return .answer(.badRequest, "the request target's authority is not a valid host\n", close: true)
        }
        let (rawPath, rest) = RequestTarget.split(uri: head.uri)
        let routePath: String
        var target: String?
        switch RequestPath.normalize(authority != nil && rawPath.isEmpty ? "/" : rawPath) {
        case .unchanged:
            if authority == nil && rest.isEmpty {
                routePath = head.uri
            } else {
                routePath = rawPath.isEmpty ? "/" : String(rawPath)
                if authority != nil { target = routePath + rest }
            }
        case .normalized(let normalized):
            routePath = normalized
            target = normalized + rest
        case .invalid(let reason):
            return .answer(.badRequest, reason, close: true)
        }
        // Unanswered, a client's `Expect: 100-continue` leaves open whether its body follows.
        let bodyWaits = fields.expectContinue && fields.framing.hasBody
        let host = RequestTarget.routingHost(uri: head.uri, headers: head.headers)
        guard var route = RouteHandle(table: table, host: host, path: routePath) else {
            return .answer(.notFound, "no route for this host and path\n", close: bodyWaits)
        }
        var sent = head
        let upstream: Upstream
        if let pin, let cluster = pin.cluster(in: head.headers) {
            // The header is this gateway's: the upstream never sees it.
            sent.headers.remove(name: pin.header)
            switch table.pickPinned(route: route.route, cluster: cluster) {
            case .upstream(let pinned):
                pin.report(cluster, .served)
                route.pinned = cluster
                upstream = pinned
            case .cannotServe:
                pin.report(cluster, .cannotServe)
                return .answer(.serviceUnavailable, ClusterPin.cannotServe, close: bodyWaits)
            case .unknownCluster:
                pin.report(cluster, .unknownCluster)
                return .answer(.serviceUnavailable, ClusterPin.unknownCluster, close: bodyWaits)
            }
        } else {
            guard let picked = route.pick() else {
                return .answer(.serviceUnavailable, "no endpoint can serve this route\n", close: bodyWaits)
            }
            upstream = picked
        }
        let out = RequestEncoding.upstreamHead(
            sent, fields: fields, target: target, host: authority, clientIP: clientIP, forwarded: forwarded, allocator: allocator
        )
        return .forward(ForwardPlan(route: route, upstream: upstream, head: out, framing: fields.framing, expectsContinue: bodyWaits))
    }
}
