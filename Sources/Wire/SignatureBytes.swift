/// A record's signature kept in the value rather than in an array of its own: an Ed25519 signature is 64 bytes, and
/// a record holding it inline is one allocation less to make and free on every decoding (an eighth of decoding a
/// full datagram went to the arrays of its records' signatures; callgrind, `Benchmarks wire-decode`). Plain bytes:
/// copying or dropping one touches no reference count (an optional array beside them for longer ones cost more
/// than the arrays saved).
struct SignatureBytes: Hashable, Sendable {
    private typealias Words = (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
    /// The longest signature held: Ed25519's, the only length the wire admits (`MessageSigner` says so to signers).
    static let capacity = MemoryLayout<Words>.size

    private var words: Words = (0, 0, 0, 0, 0, 0, 0, 0)
    /// The signature's length in bytes (0: unsigned).
    let count: Int

    init(_ bytes: UnsafeRawBufferPointer) {
        // A programming error, not input: the reader refuses any other length before it gets here.
        precondition(bytes.count <= Self.capacity, "a signature is at most 64 bytes (MessageSigner)")
        count = bytes.count
        if count > 0 { withUnsafeMutableBytes(of: &words) { $0.copyMemory(from: bytes) } }
    }

    init(_ bytes: [UInt8]) {
        self = bytes.withUnsafeBytes { SignatureBytes($0) }
    }

    /// Calls `body` with the signature's bytes in place.
    @inline(__always)
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeBytes(of: words) { body(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
    }

    /// The bytes, copied out.
    var array: [UInt8] { withBytes { Array($0) } }

    static func == (a: SignatureBytes, b: SignatureBytes) -> Bool {
        a.count == b.count && a.withBytes { x in b.withBytes { y in x.elementsEqual(y) } }
    }

    func hash(into hasher: inout Hasher) {
        withBytes { hasher.combine(bytes: $0) }
    }
}
