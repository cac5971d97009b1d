import ArgumentParser
import MeshCrypto

/// `zone-agent keygen`: writes a cluster's Ed25519 signing key pair or the mesh key.
struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Write a cluster signing key pair (--cluster NAME) or the mesh key (--mesh).",
        discussion: """
        --cluster NAME writes DIR/NAME.key (secret, mode 0600) and DIR/NAME.pub, whose first line is the base64 \
        public key exactly as trust.yaml lists it. --mesh writes DIR/mesh.key, the shared key that encrypts and \
        authenticates every gossip packet. Existing keys are never overwritten without --force.
        """
    )

    @Option(help: "The cluster id the key signs for, as used in the Ingress cluster-weight annotations.")
    var cluster: String?

    @Flag(help: "Write the mesh key instead of a cluster key.")
    var mesh = false

    @Option(help: "The directory to write the key files into (created if missing).")
    var out: String

    @Flag(help: "Replace existing key files.")
    var force = false

    func validate() throws {
        switch (cluster, mesh) {
        case (nil, false): throw ValidationError("say which key to write: --cluster NAME or --mesh")
        case (.some, true): throw ValidationError("--cluster and --mesh write different keys; pass one of them")
        case (.some(let name), false):
            guard ClusterName.isValid(name) else {
                throw ValidationError("--cluster \(name): a cluster id is 1-63 characters of a-z, 0-9, '-', '_' or '.'")
            }
        case (nil, true): break
        }
    }

    func run() throws {
        do {
            if let cluster {
                let pair = try KeyFiles.writeClusterKey(cluster: cluster, directory: out, force: force)
                print("wrote \(out)/\(cluster).key (secret) and \(out)/\(cluster).pub")
                print("add to trust.yaml:  \(cluster): [\(pair.publicKey.base64)]")
            } else {
                try KeyFiles.writeMeshKey(directory: out, force: force)
                print("wrote \(out)/mesh.key (secret): copy it to every member of the mesh")
            }
        } catch {
            printError("zone-agent keygen: \(error)")
            throw ExitCode(1)
        }
    }
}

/// What a cluster id may look like: it ends up in annotation keys, file names and metric labels.
enum ClusterName {
    static func isValid(_ name: String) -> Bool {
        (1...63).contains(name.utf8.count)
            && name.utf8.allSatisfy { c in
                (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x5F || c == 0x2E || (c >= 0x41 && c <= 0x5A)
            }
    }
}
