import XCTest

final class MeshCryptoPlaceholder: XCTestCase {}
