/// Why a byte string is not a valid zone-agent message. Every input, of any length, decodes to a value or
/// to one of these: never a crash, a trap or an unbounded allocation.
public enum WireError: Error, Hashable, Sendable, CustomStringConvertible {
    case truncated(field: String)
    case badMagic
    case unsupportedVersion(UInt8)
    case unknownMessageType(UInt8)
    case tooLarge(field: String, limit: Int)
    case invalidUTF8(field: String)
    case badValue(field: String, value: UInt64)
    case trailingBytes(field: String, count: Int)
    case nonCanonical(field: String)
    case overlongVarint(field: String)

    public var description: String {
        switch self {
        case .truncated(let f): return "message ends inside \(f)"
        case .badMagic: return "not a zone-agent packet (bad magic bytes)"
        case .unsupportedVersion(let v): return "wire version \(v) is not one this build understands"
        case .unknownMessageType(let t): return "unknown message type \(t)"
        case .tooLarge(let f, let limit): return "\(f) exceeds its limit of \(limit)"
        case .invalidUTF8(let f): return "\(f) is not valid UTF-8"
        case .badValue(let f, let v): return "\(f) has the invalid value \(v)"
        case .trailingBytes(let f, let n): return "\(n) unexpected bytes after \(f)"
        case .nonCanonical(let f): return "\(f) is not in canonical form"
        case .overlongVarint(let f): return "\(f) is an over-long integer encoding"
        }
    }

    /// A short stable label for metrics.
    public var reason: String {
        switch self {
        case .truncated: return "truncated"
        case .badMagic: return "bad_magic"
        case .unsupportedVersion: return "unsupported_version"
        case .unknownMessageType: return "unknown_type"
        case .tooLarge: return "too_large"
        case .invalidUTF8: return "invalid_utf8"
        case .badValue: return "bad_value"
        case .trailingBytes: return "trailing_bytes"
        case .nonCanonical: return "non_canonical"
        case .overlongVarint: return "overlong_varint"
        }
    }
}
