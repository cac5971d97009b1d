/// Everything that can go wrong while discovering endpoints, each with a description that says what to fix.
public enum KubernetesDiscoveryError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A configured service is not written as `NAMESPACE/NAME`.
    case invalidServiceReference(String, reason: String)
    /// An environment variable the in-cluster connection needs is unset or empty.
    case missingEnvironmentVariable(String)
    /// An environment variable the in-cluster connection needs holds something unusable.
    case invalidEnvironmentVariable(String, value: String, expected: String)
    /// A file the connection needs (the token or the CA bundle) could not be read.
    case unreadableFile(path: String, role: String, detail: String)
    /// The CA bundle was read but holds no usable certificate.
    case invalidCertificateAuthority(path: String, detail: String)
    /// The API server answered with an HTTP status other than success.
    case httpStatus(code: Int, path: String, message: String)
    /// The resourceVersion the watch asked for is older than the API server still remembers (410 Gone).
    case resourceVersionExpired(String)
    /// The watch stream carried an `ERROR` event that is not 410 Gone.
    case watchError(code: Int, message: String)
    /// A line of the watch stream exceeded the configured limit.
    case lineTooLong(limit: Int)
    /// A list response body exceeded the configured limit.
    case responseTooLarge(limit: Int)
    /// A list response or a watch event could not be decoded.
    case malformedResponse(String)
    /// The connection to the API server failed or timed out.
    case transport(String)

    /// A sentence a person can act on.
    public var description: String {
        switch self {
        case .invalidServiceReference(let text, let reason):
            return "invalid Kubernetes service '\(text)': \(reason) (write it as NAMESPACE/NAME, e.g. gateway-demo/service1)"
        case .missingEnvironmentVariable(let name):
            return "environment variable \(name) is not set: in-cluster discovery must run inside a pod, where Kubernetes sets it; outside a cluster, set \(name) by hand"
        case .invalidEnvironmentVariable(let name, let value, let expected):
            return "environment variable \(name) is '\(value)', which is not \(expected)"
        case .unreadableFile(let path, let role, let detail):
            return "cannot read the \(role) at \(path) (\(detail)); check that the pod mounts its service-account token (automountServiceAccountToken) and that the path is right"
        case .invalidCertificateAuthority(let path, let detail):
            return "the CA bundle at \(path) holds no usable PEM certificate (\(detail))"
        case .httpStatus(let code, let path, let message):
            let hint: String
            switch code {
            case 401:
                hint = "the API server rejected the bearer token; check that the token file is current and the service account exists"
            case 403:
                let resource = path.hasSuffix("/ingresses") ? "ingresses.networking.k8s.io" : "endpointslices.discovery.k8s.io"
                hint = "the service account may not list/watch \(resource) in this namespace; grant it with a Role and RoleBinding"
            case 404:
                hint = "the API server does not serve discovery.k8s.io/v1 EndpointSlices here; check the API server address and Kubernetes version (1.21 or later)"
            default:
                hint = "the API server refused the request"
            }
            let detail = message.isEmpty ? "" : " (\(message))"
            return "HTTP \(code) from the Kubernetes API for \(path): \(hint)\(detail)"
        case .resourceVersionExpired(let version):
            return "resourceVersion \(version) is too old for the API server (410 Gone); listing again"
        case .watchError(let code, let message):
            return "the watch reported an error \(code): \(message)"
        case .lineTooLong(let limit):
            return "a watch event was longer than \(limit) bytes; reconnecting (raise the line limit if slices are really this large)"
        case .responseTooLarge(let limit):
            return "a list response was longer than \(limit) bytes; raise the response limit if the service really has this many endpoint slices"
        case .malformedResponse(let detail):
            return "the Kubernetes API sent something that is not a valid EndpointSlice response: \(detail)"
        case .transport(let detail):
            return "cannot talk to the Kubernetes API server: \(detail)"
        }
    }
}
