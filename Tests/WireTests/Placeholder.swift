import XCTest

final class WirePlaceholder: XCTestCase {}
