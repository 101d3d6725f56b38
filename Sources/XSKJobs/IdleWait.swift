// What a poll thread does after an empty round, by its wait mode, with the adaptive wait's
// bookkeeping (empty rounds in a row, frames taken in the awake spell) kept in one place for
// every poll loop, whatever its job and however many ports it polls.

import Glibc
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
    }

    @usableFromInline let mode: WaitMode
    @usableFromInline var spin: AdaptiveSpin
    @usableFromInline var emptyRounds = 0
    @usableFromInline var spellFrames = 0
    /// With a latency cap: the longest nap that still keeps it (the cap less what a wakeup
    /// takes here), nil without a cap.
    @usableFromInline let longestNap: Duration?
    /// With a latency cap that a wakeup from sleep alone would break: never sleep.
    @usableFromInline let neverSleeps: Bool

    /// `maxLatency` caps how long a frame may wait in the RX ring for the adaptive wait;
    /// `wakeupLatency` is how late a sleeping thread wakes on this machine (see
    /// `IdleWait.measureWakeupLatency()`).
    @usableFromInline
    init(mode: WaitMode, ringSize: Int, batchSize: Int, maxLatency: Duration? = nil, wakeupLatency: Duration = .zero) {
        self.mode = mode
        spin = AdaptiveSpin(ringSize: ringSize, batchSize: batchSize)
        if mode == .adaptive, let maxLatency {
            neverSleeps = wakeupLatency >= maxLatency
            longestNap = maxLatency - wakeupLatency
        } else {
            neverSleeps = false
            longestNap = nil
        }
    }

    /// A round of polling took `frames`: nil while frames come, else what to do now.
    @inlinable
    mutating func after(frames: Int) -> Action? {
        if frames > 0 {
            if emptyRounds > 0 { spin.framesArrived() }
            emptyRounds = 0
            spellFrames &+= frames
            return nil
        }
        return afterEmptyRound()
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
            if neverSleeps || spin.keepSpinning(rounds: emptyRounds) { return .keepPolling }
            let sleep = spin.willSleep()
            guard let longestNap, case .nap(let nap) = sleep, nap > longestNap else { return .sleep(sleep) }
            // A nap would break the cap: a shorter one, or where even the shortest would, poll()
            // (which wakes at the first frame, within the wakeup time the cap allows).
            return longestNap >= AdaptiveSpin.shortestNap ? .sleep(.nap(longestNap)) : .sleep(.untilFrames)
        }
    }

    /// How late this thread wakes from a short timed sleep, measured now: the 15th of 16
    /// sleeps of 20 µs, sorted by how much each overslept (timer slack, the scheduler, a
    /// virtual CPU's halt). What a frame arriving at a sleeping thread waits at least.
    static func measureWakeupLatency() -> Duration {
        let clock = ContinuousClock()
        var late: [Duration] = []
        late.reserveCapacity(16)
        for _ in 0..<16 {
            var request = timespec(tv_sec: 0, tv_nsec: 20_000)
            let start = clock.now
            _ = nanosleep(&request, nil)
            late.append(max(.zero, clock.now - start - .microseconds(20)))
        }
        late.sort()
        return late[14]
    }
}
