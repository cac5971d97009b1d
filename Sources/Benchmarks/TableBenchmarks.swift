enum TableBenchmarks {
    static func run() {}
}
