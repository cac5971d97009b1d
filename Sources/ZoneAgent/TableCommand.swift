import ArgumentParser
import AsyncHTTPClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore
import WeightTable

/// `zone-agent table`: prints a running gateway's routing table.
struct TableCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "table",
        abstract: "Print a running gateway's routing table."
    )

    @Option(help: "The gateway's admin URL.")
    var admin = "http://127.0.0.1:9101"

    @Flag(help: "Print the JSON of /v1/table instead of a table.")
    var json = false

    @Option(help: "A file holding the admin API's bearer token (mode 600), when the gateway sets admin.token; else $ZONE_AGENT_ADMIN_TOKEN.")
    var tokenFile: String?

    /// The token to send: from `--token-file`, else from `$ZONE_AGENT_ADMIN_TOKEN`, else none.
    func token(environment: [String: String] = ProcessInfo.processInfo.environment) throws(AdminTokenFile.Problem) -> String? {
        try Self.token(file: tokenFile, environment: environment)
    }

    /// The token from `file`, else from `$ZONE_AGENT_ADMIN_TOKEN`, else none (`drain` and `undrain` too).
    static func token(file tokenFile: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws(AdminTokenFile.Problem) -> String? {
        if let tokenFile { return try AdminTokenFile.read(path: tokenFile) }
        guard let value = environment["ZONE_AGENT_ADMIN_TOKEN"], !value.isEmpty else { return nil }
        return try AdminTokenFile.parse(Array(value.utf8), path: "$ZONE_AGENT_ADMIN_TOKEN")
    }

    func run() async throws {
        let url = admin.hasSuffix("/") ? admin + "v1/table" : admin + "/v1/table"
        var request = HTTPClientRequest(url: url)
        do {
            if let token = try token() { request.headers.add(name: "authorization", value: "Bearer \(token)") }
        } catch {
            printError("zone-agent table: \(error)")
            throw ExitCode(ExitStatus.configuration)
        }
        let body: ByteBuffer
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
            if response.status == .unauthorized {
                printError("zone-agent table: \(url) wants the admin token (\(request.headers.contains(name: "authorization") ? "the one sent is wrong" : "none was sent")): pass --token-file FILE or set $ZONE_AGENT_ADMIN_TOKEN")
                throw ExitCode(1)
            }
            guard response.status == .ok else {
                printError("zone-agent table: \(url) answered \(response.status.code) \(response.status.reasonPhrase)")
                throw ExitCode(1)
            }
            body = try await response.body.collect(upTo: 64 << 20)
        } catch let exit as ExitCode {
            throw exit
        } catch {
            printError("zone-agent table: cannot reach \(url): \(error)")
            throw ExitCode(1)
        }
        let bytes = Array(body.readableBytesView)
        if json {
            print(String(decoding: bytes, as: UTF8.self))
            return
        }
        do {
            print(TableText.render(try TableJSON.decode(bytes)), terminator: "")
        } catch {
            printError("zone-agent table: \(url) did not return a routing table: \(error)")
            throw ExitCode(1)
        }
    }
}
