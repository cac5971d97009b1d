import XCTest

final class KubernetesDiscoveryPlaceholder: XCTestCase {}
