import Foundation
import NIOSSL

/// Where the Kubernetes API server is and how to authenticate to it.
///
/// The token is read from its file before every request rather than once, because bound
/// service-account tokens are rotated by the kubelet (hourly by default) and a token read at start-up
/// would expire under a long-running agent.
public struct KubernetesConnection: Sendable, Equatable {
    /// The directory where Kubernetes mounts a pod's service-account token and CA bundle.
    public static let serviceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

    /// The API server's base URL, such as `https://10.96.0.1:443`, without a trailing slash.
    public var baseURL: String
    /// The file holding the bearer token; nil sends no `Authorization` header.
    public var tokenPath: String?
    /// The PEM file of CA certificates the server's certificate must chain to; nil trusts the system roots.
    public var caPath: String?

    /// Creates a connection from explicit parts (tests, or an agent running outside a cluster).
    public init(baseURL: String, tokenPath: String?, caPath: String?) {
        var trimmed = baseURL
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.baseURL = trimmed
        self.tokenPath = tokenPath
        self.caPath = caPath
    }

    /// The connection a pod uses: the API server from `KUBERNETES_SERVICE_HOST` and
    /// `KUBERNETES_SERVICE_PORT`, the token and CA from the mounted service account.
    ///
    /// The token file is read once here so that a pod without a mounted service account fails at
    /// start-up with a clear message, not later in a retry loop.
    public static func inCluster(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        serviceAccountDirectory: String = KubernetesConnection.serviceAccountDirectory
    ) throws(KubernetesDiscoveryError) -> KubernetesConnection {
        func required(_ name: String) throws(KubernetesDiscoveryError) -> String {
            guard let value = environment[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else {
                throw .missingEnvironmentVariable(name)
            }
            return value
        }
        let host = try required("KUBERNETES_SERVICE_HOST")
        let port = try required("KUBERNETES_SERVICE_PORT")
        guard let portNumber = UInt16(port), portNumber > 0 else {
            throw .invalidEnvironmentVariable("KUBERNETES_SERVICE_PORT", value: port, expected: "a port number")
        }
        // An IPv6 service address must be bracketed to be a URL authority.
        let authority = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]:\(portNumber)" : "\(host):\(portNumber)"
        let connection = KubernetesConnection(
            baseURL: "https://\(authority)",
            tokenPath: serviceAccountDirectory + "/token",
            caPath: serviceAccountDirectory + "/ca.crt")
        _ = try connection.readToken()
        _ = try connection.tlsConfiguration()
        return connection
    }

    /// The current bearer token, freshly read, or nil when the connection has no token file.
    func readToken() throws(KubernetesDiscoveryError) -> String? {
        guard let tokenPath else { return nil }
        let token: String
        do {
            token = try String(contentsOfFile: tokenPath, encoding: .utf8)
        } catch {
            throw .unreadableFile(path: tokenPath, role: "service-account token", detail: Self.reason(error))
        }
        let trimmed = token.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else {
            throw .unreadableFile(path: tokenPath, role: "service-account token", detail: "the file is empty")
        }
        return trimmed
    }

    /// The TLS settings for the API server, trusting only the CA bundle when one is configured.
    func tlsConfiguration() throws(KubernetesDiscoveryError) -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        guard let caPath else { return tls }
        guard FileManager.default.isReadableFile(atPath: caPath) else {
            throw .unreadableFile(path: caPath, role: "CA bundle", detail: "no such file, or not readable")
        }
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(caPath)
        } catch {
            throw .invalidCertificateAuthority(path: caPath, detail: String(describing: error))
        }
        guard !certificates.isEmpty else {
            throw .invalidCertificateAuthority(path: caPath, detail: "no certificate in the file")
        }
        tls.trustRoots = .certificates(certificates)
        return tls
    }

    private static func reason(_ error: any Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError,
           underlying.domain == NSPOSIXErrorDomain, let code = POSIXErrorCode(rawValue: Int32(underlying.code)) {
            return String(cString: strerror(code.rawValue))
        }
        return nsError.localizedDescription
    }
}
