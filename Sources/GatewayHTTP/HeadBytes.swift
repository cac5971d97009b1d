// Message heads written in one piece. Each `ByteBuffer.write…` call is a call into NIO that checks
// exclusivity and capacity; the 23 pieces of a proxied request's two heads cost about 3,000
// instructions per request that way (callgrind, on `bench/proxy-vs-haproxy.sh`'s set-up under
// valgrind). So a head is copied straight into buffer memory reserved with a single call, sized by an
// estimate; a head that outgrows it (very long header lines) is emitted again through the same
// function, once to count its bytes and once to copy them.
import NIOCore

/// A message head as pieces, emitted into any sink.
protocol MessageHead {
    func emit(into sink: inout some HeadSink)
}

/// Where a head's pieces go: counted (`HeadSize`) or copied (`HeadWriter`).
protocol HeadSink {
    mutating func append(bytes: UnsafeRawBufferPointer)
}

extension HeadSink {
    mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { append(bytes: UnsafeRawBufferPointer($0)) }
    }

    mutating func append(_ text: some StringProtocol) {
        // Native strings and their slices (all but bridged ones) lend their bytes in place; the copy is for the rest.
        if text.utf8.withContiguousStorageIfAvailable({ append(bytes: UnsafeRawBufferPointer($0)) }) != nil { return }
        Array(text.utf8).withUnsafeBytes { append(bytes: $0) }
    }

    mutating func append(_ bytes: ByteBuffer) {
        bytes.withUnsafeReadableBytes { append(bytes: $0) }
    }

    mutating func append(byte: UInt8) {
        withUnsafeBytes(of: byte) { append(bytes: $0) }
    }
}

/// Counts a head's bytes.
struct HeadSize: HeadSink {
    private(set) var count = 0

    mutating func append(bytes: UnsafeRawBufferPointer) { count += bytes.count }
}

/// Copies a head into memory reserved for it; past its end, copies nothing more and says so.
struct HeadWriter: HeadSink {
    private let memory: UnsafeMutableRawBufferPointer
    private(set) var offset = 0
    private(set) var overflowed = false

    init(_ memory: UnsafeMutableRawBufferPointer) { self.memory = memory }

    mutating func append(bytes: UnsafeRawBufferPointer) {
        guard !overflowed, !bytes.isEmpty else { return }
        guard offset + bytes.count <= memory.count else {
            overflowed = true
            return
        }
        UnsafeMutableRawBufferPointer(rebasing: memory[offset...]).copyMemory(from: bytes)
        offset += bytes.count
    }
}

extension ByteBuffer {
    /// Writes `head` in one piece: into `estimatedSize` bytes (or whatever the buffer has free beyond them) if
    /// it fits, else counted first and then copied.
    mutating func writeHead(_ head: some MessageHead, estimatedSize: Int) {
        var fitted = false
        writeWithUnsafeMutableBytes(minimumWritableBytes: estimatedSize) { memory in
            var writer = HeadWriter(memory)
            head.emit(into: &writer)
            fitted = !writer.overflowed
            return fitted ? writer.offset : 0
        }
        if fitted { return }
        var size = HeadSize()
        head.emit(into: &size)
        writeWithUnsafeMutableBytes(minimumWritableBytes: size.count) { memory in
            var writer = HeadWriter(memory)
            head.emit(into: &writer)
            // Counted from the same value a moment before: it cannot have grown.
            precondition(!writer.overflowed, "a head grew between counting and writing")
            return writer.offset
        }
    }
}
