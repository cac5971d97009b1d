// `zone-agent` benchmarks: run in release by the Makefile; they print figures and assert nothing.
// Usage: Benchmarks [wire|table|gossip|all]

let which = CommandLine.arguments.dropFirst().first ?? "all"
switch which {
case "wire": WireBenchmarks.run()
case "wire-decode": WireBenchmarks.decodeOnly()
case "wire-verify": WireBenchmarks.verifyOnly()
case "wire-encode": WireBenchmarks.encodeOnly()
case "table": TableBenchmarks.run()
case "gossip": GossipBenchmarks.run(arguments: Array(CommandLine.arguments.dropFirst(2)))
case "all":
    WireBenchmarks.run()
    TableBenchmarks.run()
default:
    print("usage: Benchmarks [wire|table|gossip|all]")
}
