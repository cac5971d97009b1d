import Synchronization

/// Counts the state-sync connections being served, in all and per source IP address, and refuses those beyond
/// the bounds. Shared by the child channels' initialisers, which run on several event loops.
final class SyncConnectionBudget: Sendable {
    private struct State {
        var total = 0
        var perSource: [SourceKey: Int] = [:]
        var refused: UInt64 = 0
    }

    let maxTotal: Int
    let maxPerSource: Int
    private let state = Mutex(State())

    init(maxTotal: Int, maxPerSource: Int) {
        self.maxTotal = max(1, maxTotal)
        self.maxPerSource = max(1, maxPerSource)
    }

    /// Takes a slot for a connection from `source`; false (and counted) when a bound is reached.
    func admit(_ source: SourceKey) -> Bool {
        state.withLock { s in
            guard s.total < maxTotal, s.perSource[source, default: 0] < maxPerSource else {
                s.refused += 1
                return false
            }
            s.total += 1
            s.perSource[source, default: 0] += 1
            return true
        }
    }

    /// Gives back the slot of a closed connection from `source`.
    func release(_ source: SourceKey) {
        state.withLock { s in
            s.total -= 1
            let left = s.perSource[source, default: 1] - 1
            s.perSource[source] = left > 0 ? left : nil
        }
    }

    /// Connections served now.
    var open: Int { state.withLock { $0.total } }
    /// Connections refused so far.
    var refused: UInt64 { state.withLock { $0.refused } }
}
