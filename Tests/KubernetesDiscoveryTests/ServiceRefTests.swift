import XCTest

@testable import KubernetesDiscovery

final class ServiceRefTests: XCTestCase {
    func testParsesNamespaceAndName() throws {
        let ref = try ServiceRef(parsing: "gateway-demo/service1")
        XCTAssertEqual(ref, ServiceRef(namespace: "gateway-demo", name: "service1"))
        XCTAssertEqual(ref.description, "gateway-demo/service1")
    }

    func testRejectsMalformedReferencesWithAReason() {
        let cases: [(String, String)] = [
            ("service1", "exactly one '/'"),
            ("a/b/c", "exactly one '/'"),
            ("/service1", "namespace is empty"),
            ("ns/", "service name is empty"),
            ("Gateway/service1", "lower-case"),
            ("ns/-svc", "start and end"),
            ("ns/svc_1", "lower-case"),
            ("ns/" + String(repeating: "a", count: 64), "63"),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try ServiceRef(parsing: text), text) { error in
                let message = String(describing: error)
                XCTAssertTrue(message.contains(expected), "\(text): \(message)")
                XCTAssertTrue(message.contains("NAMESPACE/NAME"), "\(text): \(message)")
            }
        }
    }
}
