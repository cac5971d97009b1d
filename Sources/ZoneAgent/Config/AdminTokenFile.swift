import Foundation
import MeshCrypto

/// Reads the admin API's bearer token from a secret file (`admin.token`, `zone-agent table --token-file`).
///
/// The file is refused, as ssh refuses a private key, when it is ours and group or others may read or write it
/// (any of the mode bits 077): a token others can read protects nothing, and one others can write lets them pick
/// it. Like ssh, a file another user owns is let through with group bits: that is how Kubernetes mounts a Secret
/// for a non-root container (owned by root, group `fsGroup`, mode 0440). Bits for others are refused always. One
/// trailing newline (or several, and `\r`) is trimmed, since `echo` and editors add one. The token must be 16 to
/// 4,096 visible ASCII characters (no spaces): a short token can be guessed, and it travels in a header.
enum AdminTokenFile {
    /// The fewest characters a token may have: 16 random hex characters are 64 bits, out of reach of guessing
    /// over HTTP; `openssl rand -hex 32` gives 64 characters.
    static let minimumLength = 16
    /// The most bytes read: a token is a line; a larger file is a mistake (the wrong file named).
    static let maximumLength = 4096

    /// Why a token file cannot be used; each reads as a sentence that names the file.
    enum Problem: Error, CustomStringConvertible, Equatable {
        case unreadable(path: String)
        case tooOpen(path: String, mode: String)
        case tooLarge(path: String, bytes: Int)
        case unusable(path: String, reason: String)
        case empty(path: String)
        case tooShort(path: String, length: Int)
        case invalidCharacters(path: String)

        var description: String {
            switch self {
            case .unreadable(let path):
                return "\(path) cannot be read (missing, or no permission)"
            case .tooOpen(let path, let mode):
                return "\(path) has mode \(mode), open to group or others; a token must be secret: chmod 600 \(path)"
            case .tooLarge(let path, let bytes):
                return "\(path) holds \(bytes) bytes, more than a token (at most \(AdminTokenFile.maximumLength)); is it the right file?"
            case .unusable(let path, let reason):
                return "\(path): \(reason)"
            case .empty(let path):
                return "\(path) is empty; write a token into it, e.g. `openssl rand -hex 32 > \(path)`"
            case .tooShort(let path, let length):
                return "the token in \(path) has \(length) characters, fewer than \(AdminTokenFile.minimumLength); use e.g. `openssl rand -hex 32 > \(path)`"
            case .invalidCharacters(let path):
                return "the token in \(path) holds spaces, control or non-ASCII characters; a bearer token is visible ASCII only"
            }
        }
    }

    /// Reads, checks and returns the token in `path`.
    static func read(path: String) throws(Problem) -> String {
        // The same rule as for key files, in one place (KeyFiles.secretContents).
        let data: Data
        do { data = try KeyFiles.secretContents(path, limit: maximumLength + 2) } catch {
            switch error {
            case .tooOpen(_, let mode): throw .tooOpen(path: path, mode: String(format: "%04o", Int(mode)))
            case .malformed(_, let reason): throw .unusable(path: path, reason: reason)
            default: throw .unreadable(path: path)
            }
        }
        return try parse(Array(data), path: path)
    }

    /// Checks the bytes of a token file (or `$ZONE_AGENT_ADMIN_TOKEN`) and returns the token.
    static func parse(_ bytes: [UInt8], path: String) throws(Problem) -> String {
        var bytes = bytes[...]
        while let last = bytes.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { bytes = bytes.dropLast() }
        guard !bytes.isEmpty else { throw .empty(path: path) }
        guard bytes.count <= maximumLength else { throw .tooLarge(path: path, bytes: bytes.count) }
        guard bytes.allSatisfy({ (0x21...0x7E).contains($0) }) else { throw .invalidCharacters(path: path) }
        guard bytes.count >= minimumLength else { throw .tooShort(path: path, length: bytes.count) }
        return String(decoding: bytes, as: UTF8.self)
    }
}
