import Atomics

/// Holds the current picker; a new table is published with one atomic store, and a request takes the
/// picker with one atomic load: no lock on the request path, so the proxy's loops never wait on each
/// other or on a publication.
///
/// A request loads the picker once and uses it to the end, so a swap mid-request never mixes two tables.
public final class PickerBox: Sendable {
    private let current: ManagedAtomic<EndpointPicker>

    /// Starts with `picker`.
    public init(_ picker: EndpointPicker) {
        current = ManagedAtomic(picker)
    }

    /// The current picker.
    public func load() -> EndpointPicker {
        current.load(ordering: .acquiring)
    }

    /// Replaces the current picker; requests already holding the old one finish with it.
    public func store(_ picker: EndpointPicker) {
        current.store(picker, ordering: .releasing)
    }
}

/// A picker is published whole through ``PickerBox``: swift-atomics' lock-free strong reference.
extension EndpointPicker: AtomicReference {}
