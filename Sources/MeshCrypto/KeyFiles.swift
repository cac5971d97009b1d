import Foundation

/// Reading and writing the key files of `zone-agent keygen`.
///
/// `NAME.key` holds the base64 Ed25519 seed on its first line (mode 0600); `NAME.pub` holds the base64 public key
/// on its first line, exactly as `trust.yaml` lists it; `mesh.key` holds a base64 32-byte mesh key, or several,
/// one per line, the first being the primary (later lines are accepted on receive during a rotation).
public enum KeyFiles {
    /// Writes `DIR/NAME.key` and `DIR/NAME.pub` for a new cluster signing key and returns the key pair.
    @discardableResult
    public static func writeClusterKey(cluster: String, directory: String, force: Bool = false) throws(KeyFileError) -> SigningKeyPair {
        try writeSigningKey(named: cluster, directory: directory, force: force) { "public key of cluster \(cluster) (key id \($0))" }
    }

    /// Writes `DIR/operator.key` and `DIR/operator.pub` for a new operator key (the key that signs drain orders,
    /// which trust.yaml lists under `operators`) and returns the key pair.
    @discardableResult
    public static func writeOperatorKey(directory: String, force: Bool = false) throws(KeyFileError) -> SigningKeyPair {
        try writeSigningKey(named: "operator", directory: directory, force: force) { "operator key (key id \($0)): signs drain orders" }
    }

    /// `DIR/NAME.key` (the seed, 0600) and `DIR/NAME.pub` (the public key, then a comment saying what it is, 0644).
    private static func writeSigningKey(
        named name: String, directory: String, force: Bool, describe: (KeyID) -> String
    ) throws(KeyFileError) -> SigningKeyPair {
        let pair = SigningKeyPair.generate()
        let secretPath = (directory as NSString).appendingPathComponent("\(name).key")
        let publicPath = (directory as NSString).appendingPathComponent("\(name).pub")
        try ensureWritable([secretPath, publicPath], directory: directory, force: force)
        try write(Base64.encode(pair.seed) + "\n", to: secretPath, mode: 0o600)
        try write(pair.publicKey.base64 + "\n# zone-agent Ed25519 \(describe(pair.keyID))\n", to: publicPath, mode: 0o644)
        return pair
    }

    /// Writes `DIR/mesh.key` with a new mesh key and returns it.
    @discardableResult
    public static func writeMeshKey(directory: String, force: Bool = false) throws(KeyFileError) -> MeshKey {
        let key = MeshKey.generate()
        let path = (directory as NSString).appendingPathComponent("mesh.key")
        try ensureWritable([path], directory: directory, force: force)
        try write(key.base64 + "\n", to: path, mode: 0o600)
        return key
    }

    /// Reads a cluster's secret signing key; refuses a file that group or others may access, as ssh does.
    public static func readSigningKey(path: String) throws(KeyFileError) -> SigningKeyPair {
        let line = try secretLines(path).first ?? ""
        guard let seed = Base64.decode(line), let pair = try? SigningKeyPair(seed: seed) else {
            throw .malformed(path: path, reason: "its first line is not a base64 Ed25519 seed of 32 bytes")
        }
        return pair
    }

    public static func readPublicKey(path: String) throws(KeyFileError) -> PublicKey {
        guard let key = PublicKey(base64: try firstLines(path).first ?? "") else {
            throw .malformed(path: path, reason: "its first line is not a base64 Ed25519 public key of 32 bytes")
        }
        return key
    }

    /// Reads a mesh key file: the first key is primary, any further ones are accepted on receive. Like a signing
    /// key, it is a secret (it lets its holder forge and read every packet), so the same mode rule applies.
    public static func readMeshKeys(path: String) throws(KeyFileError) -> (primary: MeshKey, accepted: [MeshKey]) {
        var keys: [MeshKey] = []
        for (i, line) in try secretLines(path).enumerated() {
            guard let key = MeshKey(base64: line) else {
                throw .malformed(path: path, reason: "line \(i + 1) is not a base64 mesh key of 32 bytes")
            }
            keys.append(key)
        }
        guard let primary = keys.first else { throw .malformed(path: path, reason: "it holds no key") }
        return (primary, Array(keys.dropFirst()))
    }

    /// The non-empty, non-comment lines of a small text file.
    static func firstLines(_ path: String) throws(KeyFileError) -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { throw .unreadable(path: path) }
        return try lines(of: data, path: path)
    }

    /// The permission bits a secret file of ours must not have: any access by group or others (ssh's rule for private
    /// keys). Write access counts too: whoever can replace the key can make this process speak with their key.
    public static let forbiddenSecretModeBits: mode_t = 0o077
    /// The bits forbidden when another user owns the file: others only. As ssh does, group bits are let through
    /// then, since that is how Kubernetes mounts a Secret for a non-root container (root-owned, group `fsGroup`,
    /// 0440); the group is the pod's own.
    public static let forbiddenForeignModeBits: mode_t = 0o007

    /// The lines of a secret key file, after checking that only its owner may access it.
    static func secretLines(_ path: String) throws(KeyFileError) -> [String] {
        try lines(of: secretContents(path, limit: 64 * 1024), path: path)
    }

    /// The bytes of a secret file (a key, the admin token), after checking its mode with ssh's rule; at most `limit`
    /// bytes are read, and a file that holds more is refused.
    ///
    /// The mode is read from the open descriptor (`fstat`), so the file checked is the file read, even when the path
    /// is a symlink (Kubernetes mounts Secret keys as symlinks into a `..data` directory) or is swapped meanwhile.
    public static func secretContents(_ path: String, limit: Int) throws(KeyFileError) -> Data {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)   // non-blocking: a FIFO named by mistake must not hang start-up
        guard fd >= 0 else { throw .unreadable(path: path) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw .malformed(path: path, reason: "it is not a regular file")
        }
        let mode = info.st_mode & 0o7777
        let forbidden = info.st_uid == getuid() ? forbiddenSecretModeBits : forbiddenForeignModeBits
        guard mode & forbidden == 0 else { throw .tooOpen(path: path, mode: mode) }
        // Read at most one byte past the limit, so an oversized file is refused without reading it all.
        var bytes = [UInt8](repeating: 0, count: limit + 1)
        var count = 0
        while count < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw .unreadable(path: path) }
            if n == 0 { break }
            count += n
        }
        guard count <= limit else { throw .malformed(path: path, reason: "it holds more than \(limit) bytes: is it the right file?") }
        return Data(bytes[0..<count])
    }

    private static func lines(of data: Data, path: String) throws(KeyFileError) -> [String] {
        guard data.count <= 64 * 1024, let text = String(data: data, encoding: .utf8) else {
            throw .malformed(path: path, reason: "it is not a small UTF-8 text file")
        }
        return text.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }

    private static func ensureWritable(_ paths: [String], directory: String, force: Bool) throws(KeyFileError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch { throw .unwritable(path: directory, reason: "\(error.localizedDescription)") }
        if !force, let existing = paths.first(where: { FileManager.default.fileExists(atPath: $0) }) {
            throw .exists(path: existing)
        }
    }

    private static func write(_ text: String, to path: String, mode: Int) throws(KeyFileError) {
        // Create with the final mode so a secret is never readable by others, not even for an instant.
        let tmp = path + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_EXCL, mode_t(mode))
        guard fd >= 0 else { throw .unwritable(path: path, reason: String(cString: strerror(errno))) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        fchmod(fd, mode_t(mode))
        close(fd)
        guard written == bytes.count, rename(tmp, path) == 0 else {
            unlink(tmp)
            throw .unwritable(path: path, reason: String(cString: strerror(errno)))
        }
    }
}

/// A key file that cannot be used or written.
public enum KeyFileError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String)
    case malformed(path: String, reason: String)
    case exists(path: String)
    case unwritable(path: String, reason: String)
    /// A secret key file that group or others may access: refused, as ssh refuses such a private key.
    case tooOpen(path: String, mode: mode_t)

    public var description: String {
        switch self {
        case .unreadable(let path): return "\(path): cannot be read (missing, or no permission)"
        case .malformed(let path, let reason): return "\(path): \(reason)"
        case .exists(let path): return "\(path) exists already; pass --force to replace it"
        case .unwritable(let path, let reason): return "\(path): cannot be written: \(reason)"
        case .tooOpen(let path, let mode):
            return "\(path): permissions \(Self.octal(mode)) are too open: a secret key must be accessible by its owner only; run `chmod 600 \(path)` (or mount it with defaultMode: 0400)"
        }
    }

    /// A mode as ssh prints it: `0644`.
    static func octal(_ mode: mode_t) -> String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
