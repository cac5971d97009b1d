import Foundation

/// A throw-away self-signed certificate for 127.0.0.1, made with the `openssl` command at test time.
///
/// Generated rather than checked in, so no private key lives in the repository and the certificate
/// never expires under a test run (it is valid for one day).
struct TestCertificate: Sendable {
    var directory: URL
    var certificatePath: String { directory.appendingPathComponent("cert.pem").path }
    var keyPath: String { directory.appendingPathComponent("key.pem").path }

    struct OpenSSLMissing: Error, CustomStringConvertible {
        var description: String {
            "the openssl command is not installed; these tests need it to make a throw-away certificate "
                + "(Debian/Ubuntu: apt-get install -y openssl)"
        }
    }

    struct OpenSSLFailed: Error, CustomStringConvertible {
        var description: String
    }

    /// Makes a fresh key and certificate in a new temporary directory.
    static func make() throws -> TestCertificate {
        let fileManager = FileManager.default
        let searchPath = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        guard let openssl = searchPath.map({ "\($0)/openssl" }).first(where: { fileManager.isExecutableFile(atPath: $0) })
        else { throw OpenSSLMissing() }

        let directory = fileManager.temporaryDirectory.appendingPathComponent("k8s-discovery-tests-\(UUID().uuidString)")
        try fileManager.createDirectory(at: directory, withIntermediateDirectories: true)
        let certificate = TestCertificate(directory: directory)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: openssl)
        process.arguments = [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", certificate.keyPath, "-out", certificate.certificatePath,
        ]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw OpenSSLFailed(description: "openssl req failed with status \(process.terminationStatus): \(message)")
        }
        return certificate
    }

    /// Writes `text` to a new file in the certificate's directory and returns its path.
    func writeFile(_ name: String, _ text: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func remove() {
        try? FileManager.default.removeItem(at: directory)
    }
}
