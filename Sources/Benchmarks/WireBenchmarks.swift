enum WireBenchmarks {
    static func run() {}
}
