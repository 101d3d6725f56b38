// What a poll thread does after an empty round, by its wait mode, with the adaptive wait's
// bookkeeping (empty rounds in a row, frames taken in the awake spell) kept in one place for
// every poll loop, whatever its job and however many ports it polls.

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

    @usableFromInline
    init(mode: WaitMode, ringSize: Int, batchSize: Int) {
        self.mode = mode
        spin = AdaptiveSpin(ringSize: ringSize, batchSize: batchSize)
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
        case .adaptive: return spin.keepSpinning(rounds: emptyRounds) ? .keepPolling : .sleep(spin.willSleep())
        }
    }
}
