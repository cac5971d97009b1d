// Which requests the proxy may send a second time once a try has written them: a pure rule, so the
// handler asks one question per request and the tests read like the table below.
import NIOHTTP1

/// Whether a request that an upstream may already have received can be sent again elsewhere.
///
/// A try that never reached the upstream (the connect failed or timed out) is always retried: nothing
/// was sent. Once the request was written, sending it again is only harmless for methods whose effect
/// does not depend on how often they run: GET, HEAD and OPTIONS (RFC 9110 §9.2.2 also lists PUT,
/// DELETE and TRACE, but applications often make PUT and DELETE act once per call, so they are
/// re-sent only where the operator says so, as nginx's `proxy_next_upstream non_idempotent` and
/// HAProxy's `retry-on` leave it to the operator). POST and PATCH are never sent twice.
struct ResendPolicy: Sendable, Equatable {
    private let put: Bool
    private let delete: Bool

    /// GET, HEAD and OPTIONS, plus those of `alsoResend` that the operator vouches for (PUT, DELETE).
    init(alsoResend: Set<ResendableMethod> = []) {
        put = alsoResend.contains(.put)
        delete = alsoResend.contains(.delete)
    }

    /// Whether a request with this method may be written to a second upstream after a first got it.
    func mayResend(_ method: HTTPMethod) -> Bool {
        switch method {
        case .GET, .HEAD, .OPTIONS: return true
        case .PUT: return put
        case .DELETE: return delete
        default: return false
        }
    }
}

/// A method that is idempotent by RFC 9110 but that many applications do not treat so; the proxy
/// re-sends it only when configured to (``WeightedProxy/Configuration/resendAlso``).
public enum ResendableMethod: String, Sendable, Hashable, CaseIterable {
    case put = "PUT"
    case delete = "DELETE"
}
