import GatewayHTTP
import NIOHTTP1

/// Who may read which admin path: with a token configured, every path but the probes' (`/healthz`, `/readyz`)
/// and, when `admin.metricsPublic` is true, `/metrics` needs `Authorization: Bearer TOKEN`.
///
/// Without a token everything is open, as before; the daemon warns at start when such an API listens beyond
/// loopback. The probes stay open because kubelet cannot send a token from a file, and they tell nothing but
/// "alive" and "ready" (with a reason).
struct AdminAccess: Sendable {
    /// The expected token's bytes; nil: no token, everything open.
    let token: [UInt8]?
    /// Whether `/metrics` is open without the token.
    let metricsPublic: Bool

    init(token: String?, metricsPublic: Bool) {
        self.token = token.map { Array($0.utf8) }
        self.metricsPublic = metricsPublic
    }

    /// The paths open without a token.
    func isOpen(_ path: Substring) -> Bool {
        path == "/healthz" || path == "/readyz" || (metricsPublic && path == "/metrics")
    }

    /// The 401 answer for a request that lacks the right token, or nil when it may go on.
    func refusal(for request: HTTPServerRequest) -> HTTPServerResponse? {
        guard let token, !isOpen(request.path) else { return nil }
        let values = request.headers["authorization"]
        guard values.count == 1, let presented = Self.bearerToken(values[0]) else {
            return unauthorized(challenge: #"Bearer realm="zone-agent""#,
                                text: "this admin path needs the token: send `Authorization: Bearer TOKEN` (admin.token on the server)\n")
        }
        guard Self.constantTimeEquals(presented, token) else {
            return unauthorized(challenge: #"Bearer realm="zone-agent", error="invalid_token""#, text: "wrong token\n")
        }
        return nil
    }

    private func unauthorized(challenge: String, text: String) -> HTTPServerResponse {
        var response = HTTPServerResponse(status: .unauthorized, text: text)
        response.headers.add(name: "www-authenticate", value: challenge)
        return response
    }

    /// The token of an `Authorization: Bearer TOKEN` value (the scheme is case-insensitive, RFC 9110 §11.1).
    static func bearerToken(_ value: String) -> ArraySlice<UInt8>? {
        let bytes = Array(value.utf8)
        let scheme = Array("bearer ".utf8)
        guard bytes.count > scheme.count,
              zip(bytes, scheme).allSatisfy({ $0 | 0x20 == $1 | 0x20 }) else { return nil }
        let token = bytes[scheme.count...].drop { $0 == UInt8(ascii: " ") }
        return token.isEmpty ? nil : token
    }

    /// Compares in time that depends on the expected token's length only, never on where the first difference
    /// is, so an attacker cannot find the token a byte at a time by timing answers. Not cryptography: an equality
    /// test without early exit.
    static func constantTimeEquals(_ presented: some Collection<UInt8>, _ expected: [UInt8]) -> Bool {
        var difference = UInt8(presented.count == expected.count ? 0 : 1)
        var presentedIndex = presented.startIndex
        for byte in expected {
            let other: UInt8
            if presentedIndex != presented.endIndex {
                other = presented[presentedIndex]
                presentedIndex = presented.index(after: presentedIndex)
            } else {
                other = ~byte
            }
            difference |= other ^ byte
        }
        return difference == 0
    }
}
