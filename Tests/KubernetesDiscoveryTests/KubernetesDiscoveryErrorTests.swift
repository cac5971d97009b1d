import XCTest

@testable import KubernetesDiscovery

final class KubernetesDiscoveryErrorTests: XCTestCase {
    /// Each description names what to check or change, not just what failed.
    func testDescriptionsSayWhatToDo() {
        let path = "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices"
        let table: [(KubernetesDiscoveryError, [String])] = [
            (.httpStatus(code: 401, path: path, message: "Unauthorized"), ["401", "token", path, "Unauthorized"]),
            (.httpStatus(code: 403, path: path, message: ""), ["403", "list/watch", "Role"]),
            (.httpStatus(code: 404, path: path, message: ""), ["404", "Kubernetes version"]),
            (.missingEnvironmentVariable("KUBERNETES_SERVICE_HOST"), ["KUBERNETES_SERVICE_HOST", "inside a pod"]),
            (.unreadableFile(path: "/t", role: "service-account token", detail: "No such file"),
             ["/t", "automountServiceAccountToken"]),
            (.lineTooLong(limit: 4096), ["4096", "reconnecting"]),
            (.responseTooLarge(limit: 2048), ["2048", "raise"]),
        ]
        for (error, fragments) in table {
            for fragment in fragments {
                XCTAssertTrue(error.description.contains(fragment), "\(error.description) lacks '\(fragment)'")
            }
        }
    }
}
