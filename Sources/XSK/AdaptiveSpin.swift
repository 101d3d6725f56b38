// How a poll thread waits when its RX ring is empty, in adaptive mode: it keeps polling
// while polling pays and sleeps in poll() when it does not, learning which from what happens.

/// How long to keep polling an empty ring before sleeping in poll(), learnt from what
/// polling brought.
///
/// Frames come in bursts (one NAPI poll's worth) with gaps of tens of microseconds between
/// them. When the kernel's receive work runs on another core, polling through the gaps
/// spares it a wakeup per burst and the rate goes up (measured: +15% on veth). When it
/// shares our core (threaded NAPI pinned here, or a busy single-core box), polling only
/// keeps it from running: the ring stays empty until we sleep. So a spin that ends in
/// frames doubles the allowance, a spin that ends in sleep halves it, down to none (then the
/// thread is poll()-driven); every 1024th sleep tries a 50-µs spin again, in case the kernel's
/// work has moved (or a noisy spell decayed the allowance where polling does pay): long enough
/// to catch the next burst when it pays, rare enough to cost a shared core under 1%.
public struct AdaptiveSpin: Sendable {
    public init() {}

    public static let maximum: Duration = .microseconds(200)
    public static let minimum: Duration = .microseconds(2)
    public static let probe: Duration = .microseconds(50)
    public private(set) var limit = maximum
    var idleSince = ContinuousClock.now
    var slept = false
    var sleeps = 0

    /// Whether to keep polling after `rounds` empty receives in a row.
    public mutating func keepSpinning(rounds: Int) -> Bool {
        if rounds == 1 {
            idleSince = .now
            slept = false
        }
        guard limit > .zero else { return false }
        // The clock is read every 16th round: a round is well under a microsecond.
        return rounds & 15 != 0 || ContinuousClock.now - idleSince < limit
    }

    /// The spin ran out: sleeping now.
    public mutating func willSleep() {
        if !slept {
            limit = limit / 2 < Self.minimum ? .zero : limit / 2
            slept = true
        }
        sleeps &+= 1
        if limit == .zero, sleeps & 1023 == 0 { limit = Self.probe }
    }

    /// Frames came after an idle spell: if polling found them, polling pays.
    public mutating func framesArrived() {
        if !slept { limit = min(Self.maximum, max(limit * 2, Self.minimum)) }
    }
}
