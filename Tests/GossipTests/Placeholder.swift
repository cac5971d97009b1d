import XCTest

final class GossipPlaceholder: XCTestCase {}
