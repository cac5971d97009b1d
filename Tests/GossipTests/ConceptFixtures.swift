@testable import Gossip
import MeshCrypto
import Wire

/// Members and digests for the unit tests of the core's value types (unsigned: these types never verify).
enum Fixture {
    static let epoch = ContinuousClock.now

    static func address(_ i: UInt32) -> PeerAddress { PeerAddress(host: .v4(0x7F00_0000 | i), port: 7946) }

    static func member(_ name: String, cluster: String = "c1", generation: UInt64 = 1, incarnation: UInt64 = 0,
                       state: MemberState = .alive, at i: UInt32 = 1, since: Duration = .zero) -> Member {
        let status: MemberRecordStatus = state == .left ? .left : .alive
        let record = MemberRecord(identity: MemberIdentity(name: name, cluster: cluster, generation: generation),
                                  address: address(i), incarnation: incarnation, status: status)
        return Member(record: SignedMemberRecord(record: record, keyID: KeyID(rawValue: 0), signature: []),
                      incarnation: incarnation, state: state, stateSince: epoch + since)
    }

    static func digest(_ origin: String, generation: UInt64 = 1, version: UInt64) -> SignedDigest {
        let d = HealthDigest(origin: MemberIdentity(name: origin, cluster: "c1", generation: generation), incarnation: 0,
                             version: version, issuedAtMillis: 1_800_000_000_000, endpoints: [])
        return SignedDigest(digest: d, keyID: KeyID(rawValue: 0), signature: [])
    }
}
