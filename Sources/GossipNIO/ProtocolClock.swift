/// The clock of the protocol's timers as the service uses it: the present, and a sleep until an instant.
///
/// Any `Clock` whose instants are the continuous clock's will do (the core measures time in those): the continuous
/// clock in production, a clock a test moves by hand, so probes, suspicions and the departure's linger run in
/// virtual time over real sockets.
struct ProtocolClock: Sendable {
    /// The present.
    let now: @Sendable () -> ContinuousClock.Instant
    /// Sleeps until the instant; throws when cancelled.
    let sleep: @Sendable (ContinuousClock.Instant) async throws -> Void

    init<C: Clock>(_ clock: C) where C.Instant == ContinuousClock.Instant {
        now = { clock.now }
        sleep = { try await clock.sleep(until: $0, tolerance: nil) }
    }
}
