// What a poll thread does after an empty round, by its wait mode, with the adaptive wait's
// bookkeeping (empty rounds in a row, frames taken in the awake spell) kept in one place for
// every poll loop, whatever its job and however many ports it polls.

import CShims
import Glibc
import SystemCalls
import XSK

/// How an idle poll thread waits.
public enum WaitMode: String, Sendable, CaseIterable {
    /// Always polls: lowest latency, burns its core.
    case spin
    /// Sleeps in poll() until the kernel signals a frame.
    case poll
    /// Polls while that brings frames; otherwise sleeps in poll(), or naps sized to the RX
    /// ring while a stream flows.
    case adaptive
}

@usableFromInline
struct IdleWait {
    @usableFromInline
    enum Action: Equatable {
        /// Poll the rings again (kicking the kernel first if it asks, or to busy-poll).
        case keepPolling
        case sleep(AdaptiveSpin.Sleep)
        /// Sleep in poll() until a frame comes or this long has passed: a burst is due soon
        /// after (see `ArrivalForecast`), and the thread polls through its window.
        case anticipate(Duration)
    }

    @usableFromInline let mode: WaitMode
    @usableFromInline var spin: AdaptiveSpin
    @usableFromInline var emptyRounds = 0
    @usableFromInline var spellFrames = 0
    /// With a latency cap: the longest nap that still keeps it (the cap less how late a timed
    /// sleep ends here), nil without a cap.
    @usableFromInline let longestNap: Duration?
    /// With a latency cap that a signalled wakeup from poll() would break: never sleep.
    @usableFromInline let neverSleeps: Bool
    /// With a latency cap the thread may sleep under: the check of what the frames waited.
    @usableFromInline var capWatch: LatencyCapWatch?
    /// The adaptive wait's forecast of steady light traffic.
    @usableFromInline var forecast = ArrivalForecast()
    /// The thread has slept since it last took frames.
    @usableFromInline var sleptSinceFrames = false

    /// `maxLatency` caps how long a frame may wait in the RX ring for the adaptive wait;
    /// `wakeup` is how late a sleeping thread runs again on this machine (see
    /// `WakeupLatency.measure()`).
    @usableFromInline
    init(mode: WaitMode, ringSize: Int, batchSize: Int, maxLatency: Duration? = nil, wakeup: WakeupLatency = WakeupLatency()) {
        self.mode = mode
        spin = AdaptiveSpin(ringSize: ringSize, batchSize: batchSize)
        if mode == .adaptive, let maxLatency {
            neverSleeps = !Self.sleeps(under: maxLatency, wakeup: wakeup)
            longestNap = maxLatency - wakeup.timed
            capWatch = neverSleeps ? nil : LatencyCapWatch(cap: maxLatency)
        } else {
            neverSleeps = false
            longestNap = nil
            capWatch = nil
        }
    }

    /// Whether a thread whose wakeups measured `wakeup` may sleep at all under `cap`.
    @usableFromInline
    static func sleeps(under cap: Duration, wakeup: WakeupLatency) -> Bool {
        wakeup.signalled < cap && wakeup.timed < cap
    }

    /// A round of polling handled `frames` (produced and received), of which `received`
    /// came from the RX rings: nil while frames come, else what to do now. Only received frames
    /// teach the forecast: a paced sender's own sends are not arrivals.
    @inlinable
    mutating func after(frames: Int, received: Int) -> Action? {
        if frames > 0 {
            if emptyRounds > 0 {
                spin.framesArrived()
                // After a real gap (not a batch boundary in a stream), the clock for the forecast.
                if mode == .adaptive, received > 0, sleptSinceFrames || emptyRounds >= 16 {
                    forecast.spellStarted(at: ProbeStamp.now())
                }
            }
            sleptSinceFrames = false
            emptyRounds = 0
            spellFrames &+= frames
            return nil
        }
        return afterEmptyRound()
    }

    /// A batch was taken whose first frame starts at `data`: the first after a sleep is
    /// checked against the latency cap (by its arrival stamp).
    @inlinable
    mutating func took(firstFrameAt data: UnsafeMutableRawPointer) {
        guard capWatch?.armed == true else { return }
        if let arrival = ArrivalStamp.peek(before: data) {
            capWatch!.woke(arrival: arrival, now: ProbeStamp.now())
        } else {
            capWatch!.armed = false
        }
    }

    /// The thread goes to sleep: with a cap, the next frame is checked against it (the clock
    /// is read only then).
    @inlinable
    mutating func startSleep() {
        if capWatch != nil { capWatch!.arm(now: ProbeStamp.now()) }
        sleptSinceFrames = true
    }

    @usableFromInline
    mutating func afterEmptyRound() -> Action {
        emptyRounds += 1
        if emptyRounds == 1 {
            spin.spellEnded(frames: spellFrames)
            spellFrames = 0
        }
        switch mode {
        case .spin: return .keepPolling
        case .poll: return .sleep(.untilFrames)
        case .adaptive:
            if neverSleeps { return .keepPolling }
            // A burst is due: poll until it comes or its window closes.
            if forecast.windowEnd != 0, forecast.inWindow(now: ProbeStamp.now()) { return .keepPolling }
            if spin.keepSpinning(rounds: emptyRounds) { return .keepPolling }
            // Frames after recent sleeps waited longer than the cap: poll through the hold.
            if capWatch?.holding() == true { return .keepPolling }
            if !spin.nextSleepIsNap, let wait = forecast.sleepBeforeBurst(now: ProbeStamp.now()) {
                // Its window is open: poll through it (no sleep, so none for the spin to count).
                if wait == 0 { return .keepPolling }
                spin.willSleep()
                startSleep()
                return .anticipate(.nanoseconds(Int64(truncatingIfNeeded: wait)))
            }
            let sleep = spin.willSleep()
            startSleep()
            guard let longestNap, case .nap(let nap) = sleep, nap > longestNap else { return .sleep(sleep) }
            // A nap would break the cap: a shorter one, or where even the shortest would, poll()
            // (which wakes at the first frame, within the wakeup time the cap allows).
            return longestNap >= AdaptiveSpin.shortestNap ? .sleep(.nap(longestNap)) : .sleep(.untilFrames)
        }
    }

}

/// How late a sleeping poll thread runs again on this machine, in the two ways it sleeps: what
/// a latency cap has to allow for. A cap is a promise about the tail, so both are the 99th
/// percentile of what was measured, not a typical wake: on this project's 2-vCPU VM a
/// signalled wake measured 31-52 us at the median and 82-108 us at the 99th percentile.
@usableFromInline
struct WakeupLatency: Sendable, Equatable {
    /// Asleep in poll(), woken because another CPU signalled (how a frame wakes the thread).
    @usableFromInline var signalled: Duration
    /// How late a short nap (a timed sleep of 20 us, at the thread's timer slack) ends.
    @usableFromInline var timed: Duration

    @usableFromInline
    init(signalled: Duration = .zero, timed: Duration = .zero) {
        self.signalled = signalled
        self.timed = timed
    }

    /// Wakes measured per kind, for the 99th percentile.
    static let samples = 200

    /// Measures both on the calling thread, now (about 0.25 s): the signalled wake through
    /// `cshims_measure_signalled_wakeups`, the timed one by sleeping. Throws the probe's errno;
    /// `context` says whose thread measured (the queue).
    static func measure(context: String) throws(SystemCallError) -> WakeupLatency {
        var delays = [UInt64](repeating: 0, count: samples)
        let result = delays.withUnsafeMutableBufferPointer { cshims_measure_signalled_wakeups($0.baseAddress, Int32(samples)) }
        if result != 0 { throw SystemCallError(call: "measuring wakeups (eventfd, poll)", errno: result, context: context) }
        let signalled = percentile99(delays.map { Duration.nanoseconds(Int64(truncatingIfNeeded: $0)) })
        let clock = ContinuousClock()
        var late: [Duration] = []
        late.reserveCapacity(samples)
        for _ in 0..<samples {
            var request = timespec(tv_sec: 0, tv_nsec: 20_000)
            let start = clock.now
            _ = nanosleep(&request, nil)
            late.append(max(.zero, clock.now - start - .microseconds(20)))
        }
        return WakeupLatency(signalled: signalled, timed: percentile99(late))
    }

    /// The value at index count × 99 / 100 of the sorted values: one rank above the nearest-rank
    /// 99th percentile where the count is a multiple of 100 (the largest of 100), on the safe
    /// side for a cap.
    static func percentile99(_ values: [Duration]) -> Duration {
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, sorted.count * 99 / 100)]
    }
}
