import Foundation
import XCTest
import Yams

@testable import ZoneAgent

/// deploy/agents/README.md walks an operator from two clusters to a drill. Each of its commands must be real: a
/// zone-agent command that parses, a kustomization or manifest that exists, a make target, an object the manifests
/// define. The steps that need clusters are not run here; this keeps them from drifting from the code.
final class DeployWalkTests: XCTestCase {
    let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// The lines of the README's `sh` blocks, joined where they continue with a backslash.
    func walkCommands() throws -> [String] {
        let text = try String(contentsOfFile: repo + "/deploy/agents/README.md", encoding: .utf8)
        var commands: [String] = []
        var inBlock = false
        var pending = ""
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("```") {
                inBlock = line == "```sh"
                continue
            }
            guard inBlock, !line.isEmpty, !line.hasPrefix("#") else { continue }
            if line.hasSuffix("\\") {
                pending += line.dropLast() + " "
                continue
            }
            commands.append(pending + line)
            pending = ""
        }
        return commands
    }

    /// Shell words, for the quoting the walk uses (single and double quotes, no expansions that matter here).
    static func words(_ command: String) -> [String] {
        var words: [String] = []
        var current = ""
        var quote: Character?
        var inWord = false
        for c in command {
            if let q = quote {
                if c == q { quote = nil } else { current.append(c) }
            } else if c == "'" || c == "\"" {
                quote = c
                inWord = true
            } else if c == " " {
                if inWord { words.append(current) }
                current = ""
                inWord = false
            } else {
                current.append(c)
                inWord = true
            }
        }
        if inWord { words.append(current) }
        return words
    }

    /// Every object name the manifests define, as `kind/name` in lower case.
    func definedObjects() throws -> Set<String> {
        var names: Set<String> = []
        let root = repo + "/deploy/agents"
        let files = FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String } ?? []
        for file in files where file.hasSuffix(".yaml") && !file.hasSuffix("kustomization.yaml") {
            let text = try String(contentsOfFile: root + "/" + file, encoding: .utf8)
            for document in try Yams.load_all(yaml: text) {
                guard let object = document as? [String: Any], let kind = object["kind"] as? String,
                      let name = (object["metadata"] as? [String: Any])?["name"] as? String else { continue }
                names.insert("\(kind.lowercased())/\(name)")
            }
        }
        return names
    }

    func testEveryCommandOfTheWalkIsReal() throws {
        let commands = try walkCommands()
        XCTAssertGreaterThan(commands.count, 15, "the walk's commands were found")
        let makefile = try String(contentsOfFile: repo + "/Makefile", encoding: .utf8)
        let objects = try definedObjects()
        var seen: Set<String> = []
        for command in commands {
            var words = Self.words(command)
            if words.last == "&" { words.removeLast() }
            if words.first?.hasPrefix("(") == true { continue }   // (umask 077 && openssl rand ...): a subshell
            guard let tool = words.first else { continue }
            seen.insert(tool)
            switch tool {
            case "zone-agent":
                XCTAssertNoThrow(try ZoneAgentCommand.parseAsRoot(Array(words.dropFirst())), command)
                if words[1] == "drill", let mesh = words.firstIndex(of: "--mesh").map({ words[$0 + 1] }) {
                    XCTAssertTrue(FileManager.default.fileExists(atPath: repo + "/" + mesh), command)
                }
                if let out = words.firstIndex(of: "--out").map({ words[$0 + 1] }) {
                    XCTAssertTrue(out.hasPrefix("deploy/agents/keys"), "keys go where the kustomizations read them: \(command)")
                }
            case "kubectl":
                for (i, word) in words.enumerated() where word == "-k" {
                    XCTAssertTrue(FileManager.default.fileExists(atPath: repo + "/" + words[i + 1] + "/kustomization.yaml"), command)
                }
                for (i, word) in words.enumerated() where word == "-f" {
                    XCTAssertTrue(FileManager.default.fileExists(atPath: repo + "/" + words[i + 1]), command)
                }
                // `rollout status daemonset/zone-agent`, `port-forward deployment/zone-gateway`, `get service NAME`.
                for word in words where word.contains("/") && !word.contains(":") && !word.hasPrefix("deploy/") {
                    XCTAssertTrue(objects.contains(word), "\(word) is an object the manifests define: \(command)")
                }
                if let get = words.firstIndex(of: "get"), words.count > get + 2 {
                    XCTAssertTrue(objects.contains("\(words[get + 1])/\(words[get + 2])"), command)
                }
            case "make":
                for target in words.dropFirst() {
                    XCTAssertTrue(makefile.contains("\n\(target):"), "make \(target) is a target: \(command)")
                }
            case "skopeo":
                XCTAssertTrue(command.contains("oci-archive:.build-image/zone-agent-\(ZoneAgentVersion.current).oci.tar"),
                              "the archive make image writes (scripts/image.sh): \(command)")
            case "sed":
                let target = try XCTUnwrap(words.last)
                XCTAssertTrue(FileManager.default.fileExists(atPath: repo + "/" + target), command)
            case "export", "curl":
                break
            default:
                XCTFail("a command the walk test does not know: \(command)")
            }
        }
        XCTAssertEqual(seen.intersection(["zone-agent", "kubectl", "make", "skopeo", "sed"]).count, 5)
        let verbs = commands.filter { $0.hasPrefix("zone-agent ") }.map { Self.words($0)[1] }
        XCTAssertEqual(Set(verbs), ["keygen", "table", "drill"], "keys, the table and the drill are all in the walk")
    }

    func testTheWalksMeshFileLoads() throws {
        let dir = NSTemporaryDirectory() + "walk-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let token = dir + "/admin.token"
        XCTAssertTrue(FileManager.default.createFile(atPath: token, contents: Data("0123456789abcdef0123456789abcdef\n".utf8),
                                                     attributes: [.posixPermissions: 0o600]))
        let text = try String(contentsOfFile: repo + "/deploy/agents/drill-mesh.yaml", encoding: .utf8)
        XCTAssertTrue(text.contains("token: deploy/agents/keys/admin.token"), "the token the walk's step 1 writes")
        let mesh = try MeshFile.parse(text.replacingOccurrences(of: "deploy/agents/keys/admin.token", with: token), file: "drill-mesh.yaml")
        XCTAssertEqual(mesh.adminToken, "0123456789abcdef0123456789abcdef")
        XCTAssertEqual(mesh.host, "alb.ingress.alibaba.com")
        XCTAssertEqual(mesh.clusters.keys.sorted(), ["c2"])
        for scenario in DrillScenario.allCases {
            for needed in MeshFile.required(for: scenario) {
                let parts = needed.split(separator: ".").map(String.init)
                let commands = parts[0] == "cluster" ? mesh.clusters["c2"] : parts[0] == "gateway" ? mesh.gateway : mesh.loss
                XCTAssertNotNil(commands?[parts[1]], "\(scenario.rawValue) needs \(needed)")
            }
        }
        XCTAssertEqual(mesh.probeDetection, .seconds(2), "probe interval × fall, as overlays/*/agent.yaml probe")
    }

    func testTheGatewaysRoutesAreTheSeedsIngressWithTheClusterIdsFilledIn() throws {
        let seed = repo + "/../shared/seed/ingress-demo.yaml"
        guard FileManager.default.fileExists(atPath: seed) else { throw XCTSkip("the seed's files are not beside the repository") }
        let filled = try String(contentsOfFile: seed, encoding: .utf8)
            .replacingOccurrences(of: "${cluster1-id}", with: "c1").replacingOccurrences(of: "${cluster2-id}", with: "c2")
        let expected = try XCTUnwrap(Yams.load(yaml: filled) as? NSDictionary)
        for variant in ["envoy", "builtin-proxy"] {
            let shipped = try String(contentsOfFile: repo + "/deploy/agents/gateway/\(variant)/ingress-demo.yaml", encoding: .utf8)
            XCTAssertEqual(try XCTUnwrap(Yams.load(yaml: shipped) as? NSDictionary), expected, variant)
        }
    }

    func testEveryManifestNamesTheImageByThePinnedVersion() throws {
        let root = repo + "/deploy/agents"
        let files = FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String } ?? []
        var images = 0
        for file in files where file.hasSuffix(".yaml") {
            let text = try String(contentsOfFile: root + "/" + file, encoding: .utf8)
            for line in text.split(separator: "\n") {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.hasPrefix("image: zone-agent") || trimmed.hasPrefix("newTag:") {
                    XCTAssertTrue(trimmed.hasPrefix("image: zone-agent:\(ZoneAgentVersion.current)") || trimmed.hasPrefix("newTag: \(ZoneAgentVersion.current)"),
                                  "\(file): \(trimmed)")
                    images += 1
                }
                XCTAssertFalse(trimmed.hasPrefix("image:") && trimmed.contains("latest"), "\(file): \(trimmed) is not pinned")
            }
        }
        XCTAssertGreaterThan(images, 5)
    }
}
