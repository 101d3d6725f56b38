// Whether the adaptive wait keeps its latency cap, judged by the frames themselves: the first
// frame taken after each sleep carries the time it reached the XDP program (the arrival stamp),
// so the poll thread sees how long it waited in the RX ring while the thread slept, wakeup and
// all. The wakeups measured at the thread's start are a forecast; this is the outcome. When more
// than one wake in a hundred comes later than the cap, the thread stops sleeping for a while
// (polls, as spinning does) and then tries again, holding off longer each time it must.

import SystemCalls

/// The check of a latency cap against what the frames after each sleep waited.
@usableFromInline
struct LatencyCapWatch {
    /// The cap, in nanoseconds.
    @usableFromInline let cap: UInt64
    /// A sleep just ended: the next frame taken is checked.
    @usableFromInline var armed = false
    /// When the sleep began (monotonic ns): a stamp much older than that is a buffer's old one.
    @usableFromInline var armedAt: UInt64 = 0
    /// Wakes checked and wakes later than the cap, in the current window.
    @usableFromInline var checks = 0
    @usableFromInline var misses = 0
    /// While nonzero, the monotonic time (ns) until which the thread does not sleep.
    @usableFromInline var holdUntil: UInt64 = 0
    /// How long the next hold lasts.
    @usableFromInline var holdLength = LatencyCapWatch.shortestHold
    /// Over the whole run: wakes checked, wakes later than the cap, and holds.
    @usableFromInline var totalChecks = 0
    @usableFromInline var totalMisses = 0
    @usableFromInline var holds = 0

    /// A window of this many checked wakes may have one later than the cap (the 99th percentile).
    @usableFromInline static let window = 100
    /// The first hold after a window that kept the cap, and the longest (holds double between).
    @usableFromInline static let shortestHold: UInt64 = 1_000_000_000
    @usableFromInline static let longestHold: UInt64 = 64_000_000_000
    /// A frame stamped this long before its sleep began still counts (it came between the last
    /// empty poll and the sleep); one stamped earlier carries a stamp its buffer kept from an
    /// earlier use (a port whose program wrote none this time), and is not checked.
    @usableFromInline static let staleMargin: UInt64 = 50_000

    @usableFromInline
    init(cap: Duration) {
        self.cap = UInt64(max(0, cap.inNanoseconds))
    }

    /// The thread goes to sleep at `now`.
    @inlinable
    mutating func arm(now: UInt64) {
        armed = true
        armedAt = now
    }

    /// The first frame after a sleep reached the program at `arrival` and was taken at `now`.
    @inlinable
    mutating func woke(arrival: UInt64, now: UInt64) {
        armed = false
        // A stamp from the future (a clock step) or from well before the sleep (a stale one
        // its buffer kept): no check.
        guard now >= arrival, arrival &+ Self.staleMargin >= armedAt else { return }
        checks &+= 1
        totalChecks &+= 1
        if now &- arrival > cap {
            misses &+= 1
            totalMisses &+= 1
        }
        if misses > 1 {
            // More than one in a window: sleeping breaks the cap here, now. Poll for a while.
            holdUntil = now &+ holdLength
            holdLength = min(holdLength &* 2, Self.longestHold)
            holds &+= 1
            checks = 0
            misses = 0
        } else if checks >= Self.window {
            // A window that kept the cap: the machine is quiet again, forget the holds.
            holdLength = Self.shortestHold
            checks = 0
            misses = 0
        }
    }

    /// Whether sleeping is held off now (reads the clock only during a hold).
    @inlinable
    mutating func holding() -> Bool {
        guard holdUntil != 0 else { return false }
        if ProbeStamp.now() < holdUntil { return true }
        holdUntil = 0
        return false
    }
}
