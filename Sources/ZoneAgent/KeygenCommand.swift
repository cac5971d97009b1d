import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import MeshCrypto

/// `zone-agent keygen`: writes a cluster's Ed25519 signing key pair or the mesh key.
struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Write a cluster signing key pair (--cluster NAME), an operator key pair (--operator) or the mesh key (--mesh).",
        discussion: """
        --cluster NAME writes DIR/NAME.key (secret, mode 0600) and DIR/NAME.pub, whose first line is the base64 \
        public key exactly as trust.yaml lists it. --mesh writes DIR/mesh.key, the shared key that encrypts and \
        authenticates every gossip packet. Existing keys are never overwritten without --force. \
        --trust FILE (with --cluster) also adds the new public key to the trust roster FILE, creating it, so the \
        roster that kustomize generates the ConfigMap from is written by the tool, never pasted by hand. \
        --operator writes DIR/operator.key and DIR/operator.pub, the key that signs `zone-agent drain` orders; with \
        --trust FILE its public key is added to the roster's `operators` list.
        """
    )

    @Option(help: "The cluster id the key signs for, as used in the Ingress cluster-weight annotations.")
    var cluster: String?

    @Flag(help: "Write the mesh key instead of a cluster key.")
    var mesh = false

    @Flag(name: .customLong("operator"), help: "Write an operator key pair (signs drain orders) instead of a cluster key.")
    var operatorKey = false

    @Option(help: "The directory to write the key files into (created if missing).")
    var out: String

    @Flag(help: "Replace existing key files.")
    var force = false

    @Option(help: "With --cluster: add the new public key to this trust.yaml (created if missing; other clusters' keys kept).")
    var trust: String?

    func validate() throws {
        if operatorKey {
            guard cluster == nil, !mesh else { throw ValidationError("--operator writes a key of its own; pass it without --cluster and --mesh") }
            return
        }
        switch (cluster, mesh) {
        case (nil, false): throw ValidationError("say which key to write: --cluster NAME or --mesh")
        case (.some, true): throw ValidationError("--cluster and --mesh write different keys; pass one of them")
        case (.some(let name), false):
            guard ClusterName.isValid(name) else {
                throw ValidationError("--cluster \(name): a cluster id is 1-63 characters of a-z, 0-9, '-', '_' or '.'")
            }
        case (nil, true):
            guard trust == nil else { throw ValidationError("--trust lists cluster keys; pass it with --cluster NAME, not --mesh") }
        }
    }

    func run() throws {
        do {
            if operatorKey {
                let pair = try KeyFiles.writeOperatorKey(directory: out, force: force)
                print("wrote \(out)/operator.key (secret: keep it off the gateways) and \(out)/operator.pub (key id \(pair.keyID))")
                if let trust {
                    try TrustFile.add(operator: pair.publicKey, path: trust)
                    print("added the operator key to \(trust)")
                } else {
                    print("add to trust.yaml:  operators: [\(pair.publicKey.base64)]")
                }
            } else if let cluster {
                let pair = try KeyFiles.writeClusterKey(cluster: cluster, directory: out, force: force)
                print("wrote \(out)/\(cluster).key (secret) and \(out)/\(cluster).pub")
                if let trust {
                    try TrustFile.add(pair.publicKey, cluster: cluster, path: trust)
                    print("added \(cluster)'s public key to \(trust)")
                } else {
                    print("add to trust.yaml:  \(cluster): [\(pair.publicKey.base64)]")
                }
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

/// Adds a cluster's public key to a trust roster file, as `keygen --trust` does.
enum TrustFile {
    /// Reads the roster at `path` (an absent file is an empty roster), appends `key` to `cluster`'s list unless
    /// it is there (so a second key for a cluster is a rotation, as trust.yaml allows), and writes the roster
    /// back through a temporary file and `rename`. Mode 0644: public keys are not secret.
    static func add(_ key: PublicKey, cluster: String, path: String) throws {
        let held = try read(path)
        var keys = held.keysByCluster
        if !(keys[cluster] ?? []).contains(key) { keys[cluster, default: []].append(key) }
        try write(TrustRoster(keys, operators: held.operators), path: path)
    }

    /// Adds an operator key to the roster at `path`'s `operators` list, as `keygen --operator --trust` does.
    static func add(operator key: PublicKey, path: String) throws {
        let held = try read(path)
        try write(TrustRoster(held.keysByCluster, operators: held.operators.contains(key) ? held.operators : held.operators + [key]), path: path)
    }

    private static func read(_ path: String) throws -> TrustRoster {
        guard FileManager.default.fileExists(atPath: path) else { return TrustRoster([:]) }
        return try TrustRoster(yaml: try String(contentsOfFile: path, encoding: .utf8), source: path)
    }

    private static func write(_ roster: TrustRoster, path: String) throws {
        let header = "# Which public keys may speak for which cluster; written by `zone-agent keygen --trust`.\n"
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data((header + roster.yaml).utf8),
                                             attributes: [.posixPermissions: 0o644]) else {
            throw TrustFileError(path: path, problem: "cannot write \(temporary)")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw TrustFileError(path: path, problem: "cannot rename \(temporary) to \(path): \(reason)")
        }
    }
}

/// A trust roster `keygen --trust` could not update.
struct TrustFileError: Error, CustomStringConvertible {
    var path: String
    var problem: String
    var description: String { "cannot update the trust roster \(path): \(problem)" }
}
