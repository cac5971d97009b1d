import XCTest

@testable import KubernetesDiscovery

final class KubernetesConnectionTests: XCTestCase {
    private var certificate: TestCertificate!

    override func setUpWithError() throws {
        certificate = try TestCertificate.make()
        try FileManager.default.copyItem(
            atPath: certificate.certificatePath, toPath: certificate.directory.appendingPathComponent("ca.crt").path)
        _ = try certificate.writeFile("token", "secret-token\n")
    }

    override func tearDown() {
        certificate.remove()
    }

    func testInClusterReadsTheEnvironmentAndTheServiceAccount() throws {
        let connection = try KubernetesConnection.inCluster(
            environment: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"],
            serviceAccountDirectory: certificate.directory.path)
        XCTAssertEqual(connection.baseURL, "https://10.96.0.1:443")
        XCTAssertEqual(connection.tokenPath, certificate.directory.path + "/token")
        XCTAssertEqual(connection.caPath, certificate.directory.path + "/ca.crt")
        XCTAssertEqual(try connection.readToken(), "secret-token")
    }

    func testIPv6ServiceHostIsBracketed() throws {
        let connection = try KubernetesConnection.inCluster(
            environment: ["KUBERNETES_SERVICE_HOST": "fd00:10:96::1", "KUBERNETES_SERVICE_PORT": "6443"],
            serviceAccountDirectory: certificate.directory.path)
        XCTAssertEqual(connection.baseURL, "https://[fd00:10:96::1]:6443")
    }

    func testMissingEnvironmentNamesTheVariable() {
        let cases: [([String: String], String)] = [
            ([:], "KUBERNETES_SERVICE_HOST"),
            (["KUBERNETES_SERVICE_HOST": "10.96.0.1"], "KUBERNETES_SERVICE_PORT"),
            (["KUBERNETES_SERVICE_HOST": " ", "KUBERNETES_SERVICE_PORT": "443"], "KUBERNETES_SERVICE_HOST"),
            (["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "https"], "KUBERNETES_SERVICE_PORT"),
        ]
        for (environment, variable) in cases {
            XCTAssertThrowsError(
                try KubernetesConnection.inCluster(
                    environment: environment, serviceAccountDirectory: certificate.directory.path)
            ) { error in
                let message = String(describing: error)
                XCTAssertTrue(message.contains(variable), message)
                XCTAssertTrue(message.contains("is not set") || message.contains("not a port number"), message)
            }
        }
    }

    func testMissingTokenFileNamesThePath() {
        let directory = certificate.directory.appendingPathComponent("nowhere").path
        XCTAssertThrowsError(
            try KubernetesConnection.inCluster(
                environment: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"],
                serviceAccountDirectory: directory)
        ) { error in
            let message = String(describing: error)
            XCTAssertTrue(message.contains(directory + "/token"), message)
            XCTAssertTrue(message.contains("service-account token"), message)
        }
    }

    func testCABundleWithoutCertificateIsReported() throws {
        let bogus = try certificate.writeFile("bogus.crt", "not a certificate\n")
        let connection = KubernetesConnection(baseURL: "https://127.0.0.1:1", tokenPath: nil, caPath: bogus)
        XCTAssertThrowsError(try connection.tlsConfiguration()) { error in
            XCTAssertTrue(String(describing: error).contains(bogus), String(describing: error))
        }
    }

    func testTokenIsReadAfreshEachTime() throws {
        let connection = KubernetesConnection(
            baseURL: "https://127.0.0.1:1", tokenPath: certificate.directory.path + "/token", caPath: nil)
        XCTAssertEqual(try connection.readToken(), "secret-token")
        _ = try certificate.writeFile("token", "rotated-token")
        XCTAssertEqual(try connection.readToken(), "rotated-token")
    }
}
