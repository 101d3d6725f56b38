// What a poll thread does after an empty round, by its --wait mode, with the adaptive wait's
// bookkeeping (empty rounds in a row, frames taken in the awake spell) kept in one place for
// every loop that polls rings: the single-queue jobs and the two-port forwarder.

import XSK

enum WaitMode: String, Sendable, CaseIterable {
    case spin
    case poll
    case adaptive
}

struct IdleWait {
    enum Action: Equatable {
        /// Poll the rings again (kicking the kernel first if it asks, or to busy-poll).
        case keepPolling
        case sleep(AdaptiveSpin.Sleep)
    }

    let mode: WaitMode
    private var spin: AdaptiveSpin
    private var emptyRounds = 0
    private var spellFrames = 0

    init(mode: WaitMode, ringSize: Int, batchSize: Int) {
        self.mode = mode
        spin = AdaptiveSpin(ringSize: ringSize, batchSize: batchSize)
    }

    /// A round of polling took `frames`: nil while frames come, else what to do now.
    mutating func after(frames: Int) -> Action? {
        if frames > 0 {
            if emptyRounds > 0 { spin.framesArrived() }
            emptyRounds = 0
            spellFrames &+= frames
            return nil
        }
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
