import MeshCrypto

/// One valid message of every kind, for round-trip tests, the fuzzer's seed corpus and benchmarks.
public enum SampleMessages {
    /// A digest of `endpoints` endpoints from member `c1-a` of cluster c1.
    public static func digest(endpoints: Int = 3, version: UInt64 = 7, issuedAtMillis: UInt64 = 1_764_000_000_000) -> HealthDigest {
        let origin = MemberIdentity(name: "c1-a", cluster: "c1", zone: "zone-a", generation: 1_764_000_000_123)
        let states: [EndpointHealthState] = [.healthy, .unhealthy, .unknown]
        let list = (0..<endpoints).map { i in
            EndpointHealth(service: "gateway-demo/service\(i % 4)", host: "10.0.\(i / 250).\(i % 250 + 1)",
                           port: 8080, state: states[i % 3])
        }
        return HealthDigest(origin: origin, incarnation: 3, version: version, issuedAtMillis: issuedAtMillis, endpoints: list)
    }

    public static let address = PeerAddress(host: .v4(0x7F00_0001), port: 7001)

    /// Every message type once, signed by `signer` where a signature belongs.
    public static func all(signer: some MessageSigner) -> [GossipMessage] {
        let identity = MemberIdentity(name: "c1-a", cluster: "c1", zone: "zone-a", generation: 1_764_000_000_123)
        let record = MemberRecord(identity: identity, address: address, incarnation: 4, status: .alive)
        let gateway = MemberRecord(identity: MemberIdentity(name: "gw-1", cluster: "", generation: 9),
                                   address: PeerAddress(host: .v6(0, 1), port: 7002), incarnation: 0, status: .left)
        return [
            .ping(Ping(sequence: 1, source: "c1-a", target: "c2-b", targetGeneration: 77)),
            .pingRequest(PingRequest(sequence: 2, source: "c1-a", target: "c2-b", targetGeneration: 77,
                                     targetAddress: address, wantsNack: true)),
            .ack(Ack(sequence: 1, source: "c2-b")),
            .nack(Nack(sequence: 2, source: "c1-c")),
            .member(SignedMemberRecord(signing: record, with: signer)),
            .member(SignedMemberRecord(signing: gateway, with: Optional<SigningKeyPair>.none)),
            .accusation(Accusation(kind: .suspect, target: "c2-b", generation: 77, incarnation: 2, accuser: "c1-a")),
            .accusation(Accusation(kind: .dead, target: "c2-b", generation: 77, incarnation: 2, accuser: "c1-a")),
            .digest(SignedDigest(signing: digest(), with: signer)),
            .syncSummary(SyncSummary(
                sender: "c1-a",
                members: [.init(name: "c1-a", generation: 1, incarnation: 4, status: 1)],
                digests: [.init(origin: "c1-a", order: DigestOrder(generation: 1, version: 7))],
                wantsReply: true)),
        ]
    }
}
