#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

enum Base64 {
    static func encode(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }
    static func decode(_ text: String) -> [UInt8]? { Data(base64Encoded: text).map { [UInt8]($0) } }
}

extension String {
    func trimmingWhitespace() -> String { trimmingCharacters(in: .whitespacesAndNewlines) }
}
