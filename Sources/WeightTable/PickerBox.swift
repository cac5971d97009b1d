import Synchronization

/// Holds the current picker; swapped atomically (use swift-atomics `ManagedAtomic` or a Mutex from `Synchronization`) as tables arrive.
///
/// A request loads the picker once and uses it to the end, so a swap mid-request never mixes two tables.
public final class PickerBox: Sendable {
    private let current: Mutex<EndpointPicker>

    /// Starts with `picker`.
    public init(_ picker: EndpointPicker) {
        current = Mutex(picker)
    }

    /// The current picker.
    public func load() -> EndpointPicker {
        current.withLock { $0 }
    }

    /// Replaces the current picker; requests already holding the old one finish with it.
    public func store(_ picker: EndpointPicker) {
        current.withLock { $0 = picker }
    }
}
