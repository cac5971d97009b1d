/// A packet or a signed record being written, into memory of its own.
///
/// Why not `ByteBuffer`, which the datagram is sent in: each of its integer writes is a call into NIO with a dynamic
/// exclusivity check, ~200 instructions, and a message is a dozen such writes. Encoding runs for every datagram a
/// member sends, and making a record's canonical bytes for every signature it checks. An array's appends were
/// better but still checked uniqueness and capacity through calls; here a write is a bounds check and a store, and the
/// packet is copied into its `ByteBuffer` once (callgrind, `Benchmarks wire-encode`, `wire-verify`).
struct WireWriter: ~Copyable {
    private var base: UnsafeMutableRawPointer
    private var capacity: Int
    /// The bytes written so far.
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 64)
        base = .allocate(byteCount: self.capacity, alignment: 8)
    }

    deinit {
        base.deallocate()
    }

    /// The bytes written, copied out.
    var bytes: [UInt8] { Array(UnsafeRawBufferPointer(start: base, count: count)) }

    /// Calls `body` with the bytes written, in place.
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    @inline(__always)
    private mutating func reserve(_ n: Int) {
        if count + n > capacity { grow(toFit: n) }
    }

    @inline(never)
    private mutating func grow(toFit n: Int) {
        let newCapacity = max(capacity * 2, count + n)
        let newBase = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 8)
        newBase.copyMemory(from: base, byteCount: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    /// Big-endian, as every integer on the wire.
    @inline(__always)
    mutating func writeInteger<T: FixedWidthInteger>(_ value: T) {
        let size = MemoryLayout<T>.size
        reserve(size)
        base.storeBytes(of: value.bigEndian, toByteOffset: count, as: T.self)
        count += size
    }

    /// LEB128, shortest form.
    @inline(__always)
    mutating func writeVarint(_ value: UInt64) {
        reserve(10)
        var v = value
        while v >= 0x80 {
            base.storeBytes(of: UInt8(truncatingIfNeeded: v) | 0x80, toByteOffset: count, as: UInt8.self)
            count += 1
            v >>= 7
        }
        base.storeBytes(of: UInt8(v), toByteOffset: count, as: UInt8.self)
        count += 1
    }

    mutating func writeBytes(_ raw: UnsafeRawBufferPointer) {
        guard let source = raw.baseAddress, raw.count > 0 else { return }
        reserve(raw.count)
        (base + count).copyMemory(from: source, byteCount: raw.count)
        count += raw.count
    }

    /// The string's UTF-8 bytes, without a length.
    mutating func writeString(_ s: String) {
        var s = s
        s.withUTF8 { writeBytes(UnsafeRawBufferPointer($0)) }
    }

    /// A varint length, then the UTF-8 bytes.
    mutating func writeWireString(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            writeVarint(UInt64(utf8.count))
            writeBytes(UnsafeRawBufferPointer(utf8))
        }
    }

    mutating func writeIdentity(_ id: MemberIdentity) {
        writeWireString(id.name)
        writeWireString(id.cluster)
        writeWireString(id.zone)
        writeInteger(id.generation)
    }

    mutating func writeAddress(_ a: PeerAddress) {
        switch a.host {
        case .v4(let v):
            writeInteger(UInt8(4))
            writeInteger(v)
        case .v6(let hi, let lo):
            writeInteger(UInt8(6))
            writeInteger(hi)
            writeInteger(lo)
        }
        writeInteger(a.port)
    }

    mutating func setByte(_ byte: UInt8, at index: Int) {
        precondition(index < count)
        base.storeBytes(of: byte, toByteOffset: index, as: UInt8.self)
    }

    /// Writes `value` as a varint at `index`, where `WireEncoding.varintSize(value)` written bytes are free for it.
    mutating func setVarint(_ value: UInt64, at index: Int) {
        precondition(index + WireEncoding.varintSize(value) <= count)
        var v = value
        var i = index
        while v >= 0x80 {
            base.storeBytes(of: UInt8(truncatingIfNeeded: v) | 0x80, toByteOffset: i, as: UInt8.self)
            v >>= 7
            i += 1
        }
        base.storeBytes(of: UInt8(v), toByteOffset: i, as: UInt8.self)
    }

    /// Makes room for `n` bytes at `index`, moving what follows.
    mutating func insertRoom(_ n: Int, at index: Int) {
        precondition(index <= count)
        reserve(n)
        (base + index + n).copyMemory(from: base + index, byteCount: count - index)   // memmove: the ranges overlap
        count += n
    }
}
