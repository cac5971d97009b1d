import MeshCrypto
import NIOCore
import Wire

/// Figures for the spine: datagram codec, digest signatures, packet sealing. One core, release build.
enum WireBenchmarks {
    /// The one signer every figure here is made with.
    static let signer = try! SigningKeyPair(seed: Array(repeating: 7, count: 32))

    /// How many times a profiler loop runs: the argument after the mode, else `fallback`.
    static func loopCount(_ fallback: Int) -> Int {
        CommandLine.arguments.count > 2 ? Int(CommandLine.arguments[2]) ?? fallback : fallback
    }

    /// Decodes a full datagram in a tight loop, for a profiler.
    static func decodeOnly() {
        let datagram = WireEncoding.encodePacket(fullDatagram(signer: signer))
        var sink = 0
        let iterations = loopCount(300_000)
        for _ in 0..<iterations { sink &+= (try? WireEncoding.decodePacket(datagram))?.count ?? 0 }
        print(sink)
    }

    /// Encodes a full datagram in a tight loop, for a profiler.
    static func encodeOnly() {
        let messages = fullDatagram(signer: signer)
        var scratch = ByteBuffer()
        scratch.reserveCapacity(2048)
        var sink = 0
        let iterations = loopCount(300_000)
        for _ in 0..<iterations {
            scratch.clear()
            WireEncoding.encodePacket(messages, into: &scratch)
            sink &+= scratch.readableBytes
        }
        print(sink)
    }

    /// Verifies a 50-endpoint digest in a tight loop, for a profiler.
    static func verifyOnly() {
        let digest = SampleMessages.digest(endpoints: 50)
        let signed = SignedDigest(signing: digest, with: signer)
        let verifier = RecordVerifier(roster: TrustRoster(["c1": [signer.publicKey]]))
        var sink = 0
        let iterations = loopCount(3_000)
        for _ in 0..<iterations { sink &+= verifier.verify(signed, stored: nil, nowMillis: digest.issuedAtMillis) == nil ? 1 : 0 }
        print(sink)
    }

    /// A full datagram: a ping with piggybacked membership updates and a digest, packed to the 1,400-byte budget.
    static func fullDatagram(signer: SigningKeyPair) -> [GossipMessage] {
        var messages: [GossipMessage] = [.ping(Ping(sequence: 9, source: "c1-a", target: "c2-b", targetGeneration: 1))]
        messages.append(.digest(SignedDigest(signing: SampleMessages.digest(endpoints: 12), with: signer)))
        var filler = SampleMessages.all(signer: signer).filter {
            if case .member = $0 { return true }
            if case .accusation = $0 { return true }
            return false
        }
        while WireEncoding.encodePacket(messages + [filler[0]]).readableBytes <= WireEncoding.datagramBudget {
            messages.append(filler[0])
            filler.append(filler.removeFirst())
        }
        return messages
    }

    static func run() {
        print("wire and crypto (one core)")

        let messages = fullDatagram(signer: signer)
        let datagram = WireEncoding.encodePacket(messages)
        var scratch = ByteBuffer()
        scratch.reserveCapacity(2048)
        let encode = operationsPerSecond {
            scratch.clear()
            WireEncoding.encodePacket(messages, into: &scratch)
        }
        report("encode full datagram (\(datagram.readableBytes) B, \(messages.count) msgs)", "\(grouped(encode))/s")
        var sink = 0
        let decode = operationsPerSecond {
            sink &+= (try? WireEncoding.decodePacket(datagram))?.count ?? 0
        }
        report("decode full datagram", "\(grouped(decode))/s", aim: "≥ 500,000/s")

        let digest = SampleMessages.digest(endpoints: 50)
        let sign = operationsPerSecond(batch: 100) { _ = SignedDigest(signing: digest, with: signer) }
        report("sign digest, 50 endpoints", "\(grouped(sign))/s")
        let canonical = operationsPerSecond(batch: 100) { sink &+= WireEncoding.signedBytes(of: digest).count }
        report("canonical bytes of it (what verify checks)", "\(grouped(canonical))/s")
        let signed = SignedDigest(signing: digest, with: signer)
        let verifier = RecordVerifier(roster: TrustRoster(["c1": [signer.publicKey]]))
        let verify = operationsPerSecond(batch: 100) {
            sink &+= verifier.verify(signed, stored: nil, nowMillis: digest.issuedAtMillis) == nil ? 1 : 0
        }
        report("verify digest, 50 endpoints", "\(grouped(verify))/s", aim: "≥ 15,000/s")

        let ring = Keyring(primary: .generate(), meshName: "bench")
        let plaintext = [UInt8](repeating: 0xAB, count: 1400)
        let seal = operationsPerSecond { _ = ring.seal(plaintext, sentAtMillis: 1_764_000_000_000) }
        report("seal 1,400 B (XChaCha20-Poly1305)", "\(grouped(seal))/s")
        let sealed = ring.seal(plaintext, sentAtMillis: 1_764_000_000_000)
        let open = operationsPerSecond { sink &+= (try? ring.open(sealed))?.plaintext.count ?? 0 }
        report("open 1,400 B", "\(grouped(open))/s")
        if sink == 42 { print("") }   // keeps the optimiser from discarding the work
    }
}
