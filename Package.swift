// swift-tools-version:6.0
import PackageDescription

let nioCore = Target.Dependency.product(name: "NIOCore", package: "swift-nio")
let nioPosix = Target.Dependency.product(name: "NIOPosix", package: "swift-nio")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")

let package = Package(
    name: "zone-agent",
    products: [
        .executable(name: "zone-agent", targets: ["ZoneAgent"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.2.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.0.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.20.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.27.0"),
    ],
    targets: [
        // libsodium, from Debian's libsodium-dev.
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        // Ed25519, XChaCha20-Poly1305 and BLAKE2b behind small protocols; the only module that touches libsodium.
        .target(name: "MeshCrypto", dependencies: ["CSodium", .product(name: "Yams", package: "Yams")]),
        // The versioned binary wire format and the signed records it carries.
        .target(name: "Wire", dependencies: ["MeshCrypto", nioCore]),
        // The pure function from mesh state to weighted routes, and the endpoint picker.
        .target(name: "WeightTable", dependencies: ["Wire", "MeshCrypto", .product(name: "Atomics", package: "swift-atomics"), .product(name: "Yams", package: "Yams")]),
        // The pure SWIM/Lifeguard protocol core: no I/O, no clock reads, no global randomness.
        .target(name: "Gossip", dependencies: ["Wire", "MeshCrypto"]),
        // The thin SwiftNIO shell that runs the core over UDP and TCP.
        .target(name: "GossipNIO", dependencies: [
            "Gossip", "Wire", "MeshCrypto", nioCore, nioPosix, logging,
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // A seeded random generator, for the simulation and for every randomised test.
        .target(name: "SeededRandom"),
        // A virtual network with a virtual clock and seeded randomness that runs many cores in one process.
        .target(name: "GossipSimulation", dependencies: ["Gossip", "Wire", "MeshCrypto", "SeededRandom", nioCore]),
        // The built-in weighted HTTP/1.1 reverse proxy and the small HTTP server behind the admin API and demo backends.
        .target(name: "GatewayHTTP", dependencies: [
            nioCore, nioPosix, logging,
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Atomics", package: "swift-atomics"),
        ]),
        // Endpoint discovery through the Kubernetes API: list and watch EndpointSlices.
        .target(name: "KubernetesDiscovery", dependencies: [
            nioCore, logging,
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        .executableTarget(name: "ZoneAgent", dependencies: [
            "MeshCrypto", "Wire", "WeightTable", "Gossip", "GossipNIO", "GatewayHTTP", "KubernetesDiscovery",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            nioCore, nioPosix, logging,
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "Atomics", package: "swift-atomics"),
        ], linkerSettings: [
            // Pages the loader reads whole at every start, so every process keeps them resident (bench/idle-footprint.sh,
            // README "Measured here"): lld packs the relative relocations (DT_RELR; glibc ≥ 2.36, Debian 12, the image's
            // base), 2.9 MB with gold, the default. The executable's own symbols stay exported (-export-dynamic, 2 MB
            // more that `--no-export-dynamic` would save): in this stripped binary they are what names our functions
            // in a crash backtrace, and an operator reading one at 3 a.m. needs them more than we need 2 MB.
            .unsafeFlags(["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs"],
                         .when(platforms: [.linux], configuration: .release)),
        ]),
        // libFuzzer entry point for the wire decoder (`make fuzz`).
        .executableTarget(name: "WireFuzz", dependencies: ["Wire", "MeshCrypto", nioCore]),
        // One UDP socket flooding a loopback address: the attacker of `make adversarial` and the flood tests.
        .target(name: "LoopbackFlood"),
        // One gossip member as a process, for side-by-side runs against Serf (bench/serf-compare.sh).
        .executableTarget(name: "GossipNode", dependencies: [
            "Gossip", "GossipNIO", "Wire", "MeshCrypto", "LoopbackFlood", logging,
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // Figures for `make bench`: run in release, print numbers, assert nothing.
        .executableTarget(name: "Benchmarks", dependencies: [
            "MeshCrypto", "Wire", "WeightTable", "Gossip", "GossipSimulation", nioCore,
        ]),
        .testTarget(name: "MeshCryptoTests", dependencies: ["MeshCrypto"]),
        .testTarget(name: "WireTests", dependencies: ["Wire", "MeshCrypto", "SeededRandom", nioCore]),
        .testTarget(name: "WeightTableTests", dependencies: [
            "WeightTable", "Wire", "MeshCrypto", "SeededRandom",
            .product(name: "PropertyBased", package: "swift-property-based"),
        ]),
        .testTarget(name: "GossipTests", dependencies: [
            "Gossip", "GossipSimulation", "GossipNIO", "Wire", "MeshCrypto", "SeededRandom", "LoopbackFlood", logging,
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            nioCore, nioPosix, .product(name: "NIOEmbedded", package: "swift-nio"),
        ]),
        .testTarget(name: "GatewayHTTPTests", dependencies: ["GatewayHTTP", "SeededRandom", nioCore, nioPosix,
                                                            .product(name: "NIOHTTP1", package: "swift-nio"),
                                                            .product(name: "NIOEmbedded", package: "swift-nio")]),
        .testTarget(name: "KubernetesDiscoveryTests", dependencies: [
            "KubernetesDiscovery", "SeededRandom", nioCore, nioPosix, logging,
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        .testTarget(name: "ZoneAgentTests", dependencies: [
            "ZoneAgent", "WeightTable", "Wire", "MeshCrypto", "SeededRandom", nioCore, nioPosix,
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ]),
    ]
)
