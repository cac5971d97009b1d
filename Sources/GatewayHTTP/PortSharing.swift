// Whether a port the event loops' listeners share (SO_REUSEPORT) is shared with another process too. `claimPort`
// refuses a port anything listens on, but two servers started in the same instant both claim before either listens,
// and then split the port's connections between them without a word. After listening, the kernel's table of
// listening sockets says how many sockets listen where ours do: more than ours is that race, and the server refuses
// to start. Of two racing, the one that looks second sees the other; both may, and both then stop with the same clear
// error, which a restart settles. The table is not a snapshot (the kernel writes it a block a read), so a socket added
// while it is read can be missed: the check narrows the race to nearly nothing rather than closing it by proof.
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
        guard let target = kernelText(address) else { return nil }
        var sockets = Set<Substring>()
        var heading = true
        let read: Void? = try? forEachLine(of: path) { line in
            if heading { heading = false } else if let inode = listener(line, at: target) { sockets.insert(inode) }
        }
        return read == nil ? nil : sockets.count
    }

    /// The same count in a table as /proc/net/tcp prints it: a heading line, then a line a socket.
    static func listeners(in table: Substring, at target: (address: Substring, port: Substring)) -> Int {
        Set(table.split(separator: "\n").dropFirst().compactMap { listener($0, at: target) }).count
    }

    /// The inode of the socket on a line of the table (its local `ADDRESS:PORT` in hexadecimal second, its state
    /// fourth, `0A` for listening, its inode tenth) if it listens where a connection to `target` could reach it.
    /// Counted by inode: the kernel writes the table a block a read, walking its hash chains again at each, so a
    /// socket can appear twice while others are added to the same chain (sockets on one port share a chain), and
    /// servers starting together on one port at different addresses saw themselves twice.
    private static func listener(_ line: Substring, at target: (address: Substring, port: Substring)) -> Substring? {
        let fields = line.split(separator: " ", maxSplits: 10, omittingEmptySubsequences: true)
        guard fields.count >= 10, fields[3] == "0A" else { return nil }
        let local = fields[1].split(separator: ":")
        guard local.count == 2, local[1] == target.port else { return nil }
        let wildcard = { (address: Substring) in address.allSatisfy { $0 == "0" } }
        guard local[0] == target.address || wildcard(local[0]) || wildcard(target.address) else { return nil }
        return fields[9]
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

    /// Calls `body` with each line of the file at `path`, read a block at a time: a node's table of sockets can run to
    /// megabytes, and only a line of it is held (a line longer than a block, which the kernel never writes, is skipped).
    static func forEachLine(of path: String, _ body: (Substring) -> Void) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw IOError(errnoCode: errno, reason: "open \(path)") }
        defer { close(fd) }
        let block = 16384
        var pending: [UInt8] = []
        pending.reserveCapacity(2 * block)
        while true {
            let start = pending.count
            pending.append(contentsOf: repeatElement(0, count: block))
            let n = pending.withUnsafeMutableBytes { read(fd, $0.baseAddress! + start, block) }
            if n < 0 {
                pending.removeLast(block)
                if errno == EINTR { continue }
                throw IOError(errnoCode: errno, reason: "read \(path)")
            }
            pending.removeLast(block - n)
            var lineStart = 0
            while let end = pending[lineStart...].firstIndex(of: UInt8(ascii: "\n")) {
                body(Substring(String(decoding: pending[lineStart..<end], as: UTF8.self)))
                lineStart = end + 1
            }
            pending.removeFirst(lineStart)
            if pending.count >= block { pending.removeAll(keepingCapacity: true) }
            if n == 0 { break }
        }
        if !pending.isEmpty { body(Substring(String(decoding: pending, as: UTF8.self))) }
    }
}
