enum GossipBenchmarks {
    static func run(arguments: [String]) {}
}
