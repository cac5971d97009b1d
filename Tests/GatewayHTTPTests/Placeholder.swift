import XCTest

final class GatewayHTTPPlaceholder: XCTestCase {}
