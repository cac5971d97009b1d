import Testing
import Wire
@testable import WeightTable

/// Which members' digests count: the policy's rule, with member standings as input.
@Suite("Vouching")
struct VouchingTests {
    let route = demoRoute(["c1": 20, "c2": 80])

    func mesh(c2: [MemberView.Standing]) -> Mesh {
        var mesh = Mesh()
        mesh.cluster("c1", healthy: 2)
        for (i, standing) in c2.enumerated() {
            mesh.agent("c2-\(i)", cluster: "c2", endpoints: [("c2.pod1", 8080, .healthy)])
            mesh.members[mesh.members.count - 1].standing = standing
        }
        return mesh
    }

    func weights(_ mesh: Mesh, _ policy: TablePolicy = TablePolicy()) -> [String: Int] {
        TableBuilder.build(mesh.inputs([route]), state: TableState(), policy: policy, now: .now).table.effective()
    }

    @Test func byDefaultOnlyAliveMembersVouch() {
        #expect(weights(mesh(c2: [.suspect, .suspect])) == ["c1": 100, "c2": 0], "every agent suspected: the cluster fails over")
        #expect(weights(mesh(c2: [.suspect, .alive])) == ["c1": 20, "c2": 80], "one alive agent is enough")
        #expect(weights(mesh(c2: [.gone, .suspect])) == ["c1": 100, "c2": 0])
    }

    @Test func aliveOrSuspectWaitsForDeath() {
        let patient = TablePolicy(vouching: .aliveOrSuspect)
        #expect(weights(mesh(c2: [.suspect, .suspect]), patient) == ["c1": 20, "c2": 80])
        #expect(weights(mesh(c2: [.gone, .gone]), patient) == ["c1": 100, "c2": 0])
    }

    @Test func theRuleReadsStandingsOnly() {
        let rules: [(TablePolicy.Vouching, [MemberView.Standing: Bool])] = [
            (.alive, [.alive: true, .suspect: false, .gone: false]),
            (.aliveOrSuspect, [.alive: true, .suspect: true, .gone: false]),
        ]
        for (rule, expected) in rules {
            for (standing, vouches) in expected { #expect(TablePolicy(vouching: rule).vouches(standing) == vouches) }
        }
    }

    @Test func aNameListedTwicePrefersTheBetterStandingWhateverTheOrder() {
        var mesh = mesh(c2: [.alive])
        mesh.members.append(MemberView(name: "c2-0", cluster: "c2", standing: .suspect))
        #expect(weights(mesh) == ["c1": 20, "c2": 80])
        mesh.members.reverse()
        #expect(weights(mesh) == ["c1": 20, "c2": 80])
    }
}
