import XCTest

final class WeightTablePlaceholder: XCTestCase {}
