import Foundation
import MeshCrypto
import NIOCore
import Wire

/// The seed corpus: every message type alone, and all of them in one packet.
enum FuzzCorpus {
    static func seeds() -> [[UInt8]] {
        let signer = try! SigningKeyPair(seed: Array(repeating: 5, count: 32))
        let all = SampleMessages.all(signer: signer)
        var seeds = all.map { WireEncoding.encodePacketBytes([$0]) }
        seeds.append(WireEncoding.encodePacketBytes(all))
        seeds.append(WireEncoding.encodePacketBytes([.digest(SignedDigest(signing: SampleMessages.digest(endpoints: 20), with: signer))]))
        return seeds
    }

    static func write(to directory: String) {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (i, seed) in seeds().enumerated() {
            let path = "\(directory)/seed-\(i)"
            guard FileManager.default.createFile(atPath: path, contents: Data(seed)) else {
                FileHandle.standardError.write(Data("cannot write \(path)\n".utf8))
                exit(1)
            }
        }
        print("wrote \(seeds().count) seeds to \(directory)")
    }

    static func read(_ path: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path).map { [UInt8]($0) }
    }
}
