import Synchronization

/// The newest list of each watched key (a Service's endpoints, a namespace's Ingresses), shared between the
/// per-key watch loops and the task that reports them: a loop stores its list and learns whether it changed,
/// so the reporter is woken only for a real change.
final class LatestLists<Key: Hashable & Sendable, Element: Equatable & Sendable>: Sendable {
    private let state = Mutex<[Key: [Element]]>([:])

    /// Stores `key`'s list; true when it differs from what was stored.
    func set(_ list: [Element], for key: Key) -> Bool {
        state.withLock { all in
            if all[key] == list { return false }
            all[key] = list
            return true
        }
    }

    /// Every key's newest list.
    var current: [Key: [Element]] { state.withLock { $0 } }
}
