// How a poll thread waits when its RX ring is empty, in adaptive mode: it keeps polling
// while polling pays, and when it does not, it sleeps: in poll() while traffic is light, in a
// timed nap sized to the ring while a stream flows, learning which from what happens.

/// How long to keep polling an empty ring before sleeping, and how to sleep, learnt from what
/// polling and sleeping brought.
///
/// Frames come in bursts (one NAPI poll's worth) with gaps of tens of microseconds between
/// them. When the kernel's receive work runs on another core, polling through the gaps
/// spares it a wakeup per burst and the rate goes up (measured: +15% on veth). When it
/// shares our core (threaded NAPI pinned here, or a busy single-core box), polling only
/// keeps it from running: the ring stays empty until we sleep. So a spin that ends in
/// frames doubles the allowance, a spin that ends in sleep halves it, down to none (then the
/// thread only sleeps); every 1024th sleep tries a 50-µs spin again, in case the kernel's
/// work has moved (or a noisy spell decayed the allowance where polling does pay): long enough
/// to catch the next burst when it pays, rare enough to cost a shared core under 1%.
///
/// How it sleeps: poll() wakes the thread at the kernel's first flush, i.e. once per burst of
/// about 64 frames, and on a shared core each wakeup is two context switches taken from the
/// kernel's own receive work. So while a stream flows (the last awake spell took half a batch
/// or more) it naps instead, for a time that lets a quarter to three quarters of the RX ring
/// fill: a nap whose first spell found three quarters of the ring or more halves, one that
/// found under a quarter doubles, within 10 µs-1 ms. A nap that finds nothing, or a spell under
/// half a batch, goes back to poll(): light traffic keeps its latency, an idle thread sleeps.
/// Measured on veth with threaded NAPI on our core, side by side (5-8 pairs each): naps within
/// 1/8-1/2 of the ring took 1.14x the frames of a poll() per burst, within 1/4-3/4 1.26x more
/// again; within 1/2-1 (longer still) 0.87x of that: the ring overflows.
public struct AdaptiveSpin: Sendable {
    /// How to sleep: in poll() until a frame comes, or a timed nap.
    public enum Sleep: Equatable, Sendable {
        /// Sleep in `poll()` until a frame arrives.
        case untilFrames
        /// Nap for this long without waiting on the socket, while frames gather in the RX ring.
        case nap(Duration)
    }

    /// A wait for a queue whose RX ring has `ringSize` slots and whose receives take up to
    /// `batchSize` frames.
    public init(ringSize: Int = 2048, batchSize: Int = 64) {
        self.ringSize = ringSize
        self.batchSize = batchSize
    }

    /// The longest the thread keeps polling an empty ring before it sleeps.
    public static let maximum: Duration = .microseconds(200)
    /// The shortest spin: an allowance halved below it becomes none, and the thread only sleeps.
    public static let minimum: Duration = .microseconds(2)
    /// The spin tried again every 1024th sleep while the allowance is none.
    public static let probe: Duration = .microseconds(50)
    /// The shortest nap while a stream flows.
    public static let shortestNap: Duration = .microseconds(10)
    /// The longest nap while a stream flows.
    public static let longestNap: Duration = .milliseconds(1)
    /// How long the thread now keeps polling an empty ring before it sleeps; zero when it
    /// sleeps at once.
    public private(set) var limit = maximum
    /// How long a nap now lasts while a stream flows.
    public private(set) var nap: Duration = .microseconds(100)
    let ringSize: Int
    let batchSize: Int
    var idleSince = ContinuousClock.now
    var slept = false
    var sleeps = 0
    /// The last awake spell took half a batch or more: a stream flows.
    var streaming = false
    /// The last sleep was a nap, and frames have (not) come since.
    var napped = false
    var arrivedSinceSleep = false

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

    /// The spin ran out: sleeping now. Says how.
    @discardableResult
    public mutating func willSleep() -> Sleep {
        if !slept {
            limit = limit / 2 < Self.minimum ? .zero : limit / 2
            slept = true
        }
        sleeps &+= 1
        if limit == .zero, sleeps & 1023 == 0 { limit = Self.probe }
        // A nap that found nothing: the stream has stopped.
        if napped, !arrivedSinceSleep { streaming = false }
        arrivedSinceSleep = false
        napped = streaming
        return streaming ? .nap(nap) : .untilFrames
    }

    /// Whether the next `willSleep()` would nap (a stream flows), without counting a sleep.
    public var nextSleepIsNap: Bool { streaming && !(napped && !arrivedSinceSleep) }

    /// Frames came after an idle spell: if polling found them, polling pays.
    public mutating func framesArrived() {
        if !slept { limit = min(Self.maximum, max(limit * 2, Self.minimum)) }
        arrivedSinceSleep = true
    }

    /// An awake spell ended (the ring is empty again) after taking `frames`: whether a stream
    /// flows, and, after a nap, whether the nap fits the ring.
    public mutating func spellEnded(frames: Int) {
        streaming = frames >= batchSize / 2
        guard napped else { return }
        napped = false
        if frames >= ringSize * 3 / 4 {
            nap = max(Self.shortestNap, nap / 2)
        } else if frames < ringSize / 4 {
            nap = min(Self.longestNap, nap * 2)
        }
    }
}
