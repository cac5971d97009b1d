import ArgumentParser
import AsyncHTTPClient
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

    func run() async throws {
        let url = admin.hasSuffix("/") ? admin + "v1/table" : admin + "/v1/table"
        let body: ByteBuffer
        do {
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(5))
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
