import NIOCore
import Wire

// The decoder must turn every byte string into messages or a typed `WireError`; libFuzzer calls this with
// mutations of the seed corpus, and any trap, crash or hang is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWireDecoder(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    for limits in [WireLimits.datagram, .syncFrame] {
        if let messages = try? WireEncoding.decodePacket(bytes, limits: limits) {
            // Whatever decodes must encode back to the very same bytes: one encoding per value.
            let again = WireEncoding.encodePacketBytes(messages)
            precondition(again == bytes, "decoded packet does not re-encode to its input")
            // The sizes the core counts without encoding are the sizes the encoder writes.
            precondition(WireEncoding.packetSize(messageSizes: messages.map(WireEncoding.encodedSize(of:))) == bytes.count,
                         "counted message sizes differ from the encoding")
        }
    }
    return 0
}

#if FUZZING
// SwiftPM renames an executable's entry point to `<Target>_main` and aliases `main` to it, so the fuzzing build
// provides that symbol and hands control to libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

@_cdecl("WireFuzz_main")
func wireFuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var vector = argv
    return LLVMFuzzerRunDriver(&count, &vector, fuzzWireDecoder)
}
#else
/// Without libFuzzer (a plain build), the target replays the files it is given, to reproduce a finding,
/// or writes the seed corpus with `--write-corpus DIR`.
@main
struct WireFuzzReplay {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "--write-corpus", arguments.count == 2 {
            FuzzCorpus.write(to: arguments[1])
            return
        }
        for path in arguments {
            guard let bytes = FuzzCorpus.read(path) else {
                print("cannot read \(path)")
                continue
            }
            _ = bytes.withUnsafeBufferPointer { fuzzWireDecoder($0.baseAddress, $0.count) }
            print("\(path): decoded without a crash")
        }
    }
}
#endif
