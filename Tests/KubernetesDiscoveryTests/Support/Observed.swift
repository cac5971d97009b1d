import Synchronization

/// A test failed to see what it waited for within its time limit.
struct TimedOut: Error, CustomStringConvertible {
    var description: String
}

/// An append-only log that tests wait on: "the first item from here on that matches", with a time limit.
///
/// Waiting on a condition instead of sleeping keeps the tests fast when things work and makes them
/// fail with a message, not hang, when they do not.
final class Observed<Item: Sendable>: Sendable {
    private struct Waiter {
        var id: Int
        var from: Int
        var predicate: @Sendable (Item) -> Bool
        var continuation: CheckedContinuation<Item, any Error>
    }

    private struct State {
        var items: [Item] = []
        var waiters: [Waiter] = []
        var nextID = 0
        var expired: Set<Int> = []
    }

    private let state = Mutex(State())
    private let name: String

    init(_ name: String) {
        self.name = name
    }

    /// Everything appended so far.
    var items: [Item] { state.withLock { $0.items } }

    /// How many items have been appended; pass it as `from:` to wait only for what comes next.
    var count: Int { state.withLock { $0.items.count } }

    /// Appends an item and wakes the waiters it satisfies.
    func append(_ item: Item) {
        let woken: [Waiter] = state.withLock { state in
            state.items.append(item)
            let index = state.items.count - 1
            let ready = state.waiters.filter { $0.from <= index && $0.predicate(item) }
            state.waiters.removeAll { waiter in ready.contains { $0.id == waiter.id } }
            return ready
        }
        for waiter in woken { waiter.continuation.resume(returning: item) }
    }

    /// The first item at or after index `from` that satisfies `predicate`, waiting up to `timeout`.
    @discardableResult
    func first(
        from: Int = 0, timeout: Duration = .seconds(5), _ what: String = "",
        where predicate: @escaping @Sendable (Item) -> Bool
    ) async throws -> Item {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        let label = "\(name): \(what.isEmpty ? "a matching item" : what)"
        let timer = Task {
            try await Task.sleep(for: timeout)
            self.expire(id, label: label, timeout: timeout)
        }
        defer { timer.cancel() }
        return try await withCheckedThrowingContinuation { continuation in
            let outcome: Result<Item, any Error>? = state.withLock { state in
                if state.expired.remove(id) != nil {
                    return .failure(TimedOut(description: "timed out waiting for \(label)"))
                }
                if from < state.items.count, let match = state.items[from...].first(where: predicate) {
                    return .success(match)
                }
                state.waiters.append(
                    Waiter(id: id, from: from, predicate: predicate, continuation: continuation))
                return nil
            }
            if let outcome { continuation.resume(with: outcome) }
        }
    }

    private func expire(_ id: Int, label: String, timeout: Duration) {
        let waiter: Waiter? = state.withLock { state in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else {
                state.expired.insert(id)
                return nil
            }
            return state.waiters.remove(at: index)
        }
        let seen = items.map { "\($0)" }.suffix(8).joined(separator: "\n  ")
        waiter?.continuation.resume(
            throwing: TimedOut(description: "timed out after \(timeout) waiting for \(label); last seen:\n  \(seen)"))
    }
}
