// Whether a port the event loops' listeners share (SO_REUSEPORT) is shared with another process too. `claimPort`
// refuses a port anything listens on, but two servers started in the same instant both claim before either listens,
// and then split the port's connections between them without a word. After listening, the kernel's table of
// listening sockets says how many sockets listen where ours do: more than ours is that race, and the server refuses
// to start. Of two racing, at least the one that looks second sees the other; both may, and both then stop with the
// same clear error, which a restart settles.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore

enum PortSharing {
    /// Why a server whose port turned out shared refuses to start; `others`: the sockets listening there not its own.
    static func sharedReason(_ others: Int) -> String {
        let sockets = others == 1 ? "another socket listens" : "\(others) other sockets listen"
        return "\(sockets) on this port too, sharing its connections (SO_REUSEPORT: another server started on it "
            + "at the same moment?)"
    }

    /// How many sockets listen on `address`'s port where a connection to `address` could reach them: on the same
    /// address, or either on the wildcard address, in `address`'s family. nil when the kernel's table cannot be read
    /// (no /proc, not Linux): the check is then skipped, as it cannot be made.
    static func listeners(at address: SocketAddress) -> Int? {
        let path: String
        switch address {
        case .v4: path = "/proc/net/tcp"
        case .v6: path = "/proc/net/tcp6"
        case .unixDomainSocket: return nil
        }
        guard let table = try? readTable(path), let target = kernelText(address) else { return nil }
        return listeners(in: table, at: target)
    }

    /// The same count in a table as /proc/net/tcp prints it: a heading line, then a line a socket with its local
    /// `ADDRESS:PORT` (hexadecimal) second and its state (`0A`: listening) fourth.
    static func listeners(in table: Substring, at target: (address: Substring, port: Substring)) -> Int {
        let wildcard = String(repeating: "0", count: target.address.count)
        var count = 0
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", maxSplits: 4, omittingEmptySubsequences: true)
            guard fields.count >= 4, fields[3] == "0A" else { continue }
            let local = fields[1].split(separator: ":")
            guard local.count == 2, local[1] == target.port else { continue }
            if local[0] == target.address || local[0] == wildcard || target.address == wildcard { count += 1 }
        }
        return count
    }

    /// `address` as the kernel's table writes it: each 4 bytes of the address as the host reads them as an integer,
    /// in 8 hexadecimal digits, then the port in 4.
    static func kernelText(_ address: SocketAddress) -> (address: Substring, port: Substring)? {
        guard let port = address.port else { return nil }
        var bytes: [UInt8]
        switch address {
        case .v4(let v4):
            bytes = withUnsafeBytes(of: v4.address.sin_addr) { Array($0) }
        case .v6(let v6):
            bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
        case .unixDomainSocket:
            return nil
        }
        var text = ""
        for start in stride(from: 0, to: bytes.count, by: 4) {
            let word = bytes[start..<start + 4].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            text += hex(UInt64(word), digits: 8)
        }
        return (Substring(text), Substring(hex(UInt64(port), digits: 4)))
    }

    private static func hex(_ value: UInt64, digits: Int) -> String {
        let text = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }

    /// The whole table (a /proc file reports its size as 0, so it is read until its end).
    private static func readTable(_ path: String) throws -> Substring {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw IOError(errnoCode: errno, reason: "open \(path)") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw IOError(errnoCode: errno, reason: "read \(path)")
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return Substring(String(decoding: bytes, as: UTF8.self))
    }
}
