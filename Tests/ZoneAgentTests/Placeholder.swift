import XCTest

final class ZoneAgentPlaceholder: XCTestCase {}
