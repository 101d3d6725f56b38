import XSKJobs

// When the frames of a paced sender (generate, latency) are due: one every `interval` from the
// start, so a sender that fell behind (the machine paused) catches up in bursts, never more
// than it is allowed at once. Without an interval every frame is due at once.

/// Paces a sender to one frame per `interval`.
struct FramePacer {
    /// Between two frames; nil: no pacing.
    let interval: Duration?
    let clock = ContinuousClock()
    /// When the next frame is due.
    private var due: ContinuousClock.Instant

    init(interval: Duration?) {
        self.interval = interval
        due = clock.now
    }

    /// How many of at most `count` frames may go now; 0 with a wakeup asked of `context` for
    /// when the next is due.
    func allowed(upTo count: Int, context: inout JobContext) -> Int {
        guard let interval else { return count }
        let now = clock.now
        if now < due {
            context.wake(after: due - now)
            return 0
        }
        return min(count, Int((now - due) / interval) + 1)
    }

    /// `count` frames went: the next is due one interval after the last of them.
    mutating func sent(_ count: Int) {
        if let interval { due += interval * count }
    }
}
