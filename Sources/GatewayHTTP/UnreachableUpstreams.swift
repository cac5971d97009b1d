// Endpoints the proxy could not connect to a moment ago, shared by every connection of one proxy.
import NIOCore
import Synchronization

/// Upstreams whose connect failed or timed out within the last `window`: a retry avoids them.
///
/// A request's one retry avoids the cluster of the endpoint that failed it. When two clusters are cut at once, the
/// retry can land on the other cut one and fail too, in the second or so before the table drops them (the
/// split-mesh drill with three clusters: 4-6 of about 740 requests failed so). Other requests' connects have often
/// failed against that endpoint just before: this is their memory, for retries only. The table alone decides the
/// first try; outlier detection (`failover.outlierDetection`) is the policy for ejecting endpoints.
final class UnreachableUpstreams: Sendable {
    /// Long enough for the table to drop a cut endpoint (about 1 s at the `lan` profile), short enough that an
    /// endpoint back from a restart is not passed over for long.
    static let window = TimeAmount.seconds(2)
    /// Endpoints remembered at most: a connect storm against a dead cluster cannot grow it.
    static let capacity = 64

    private let held = Mutex<[Upstream: NIODeadline]>([:])

    /// Remembers that a connect to `upstream` failed at `now`.
    func note(_ upstream: Upstream, now: NIODeadline = .now()) {
        held.withLock { all in
            if all[upstream] == nil, all.count >= Self.capacity {
                all = all.filter { $0.value > now }
                if all.count >= Self.capacity, let any = all.first?.key { all[any] = nil }
            }
            all[upstream] = now + Self.window
        }
    }

    /// Whether a connect to `upstream` failed within the last `window`.
    func contains(_ upstream: Upstream, now: NIODeadline = .now()) -> Bool {
        held.withLock { all in
            guard let until = all[upstream] else { return false }
            if until > now { return true }
            all[upstream] = nil
            return false
        }
    }
}
