import ArgumentParser

/// The `zone-agent` command: one binary for the cluster agent, the gateway sidecar and their tools.
@main
struct ZoneAgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zone-agent",
        abstract: "Routes cross-zone traffic by weight and fails over when a cluster goes down.",
        discussion: """
        Agents on every node gossip signed endpoint health over UDP; a gateway-side agent merges it into a \
        weighted routing table that feeds its built-in proxy, Envoy or HAProxy.
        """,
        version: ZoneAgentVersion.current,
        subcommands: [AgentCommand.self, GatewayCommand.self, KeygenCommand.self, TableCommand.self, DrainCommand.self,
                      UndrainCommand.self, BackendCommand.self, DemoCommand.self,
                      DrillCommand.self]
    )
}

enum ZoneAgentVersion {
    static let current = "0.1.0"
}

/// sysexits(3) codes that CONTRACT.md fixes.
enum ExitStatus {
    static let usage: Int32 = 64
    static let configuration: Int32 = 78
}
