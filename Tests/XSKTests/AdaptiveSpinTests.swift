import Testing
@testable import XSK
import TestSupport

/// The adaptive wait's learning, without a ring: polling that pays grows, polling that ends in
/// sleep shrinks to nothing, and a poll()-driven thread probes again now and then.
@Suite("Adaptive wait")
struct AdaptiveSpinTests {
    @Test("starts at the maximum and keeps polling through the first rounds of an idle spell")
    func startsSpinning() {
        var spin = AdaptiveSpin()
        #expect(spin.limit == AdaptiveSpin.maximum)
        #expect((1...15).allSatisfy { spin.keepSpinning(rounds: $0) })
    }

    @Test("each idle spell that ends in sleep halves the allowance, down to none; then it sleeps at once")
    func decaysToPollDriven() {
        var spin = AdaptiveSpin()
        var spells = 0
        while spin.limit > .zero {
            _ = spin.keepSpinning(rounds: 1)
            spin.willSleep()
            spin.willSleep()  // a second sleep in the same spell does not halve again
            spells += 1
            #expect(spells < 20)
        }
        // 200 µs halved until under 2 µs: 7 spells.
        #expect(spells == 7)
        #expect(spin.keepSpinning(rounds: 1) == false)
    }

    @Test("frames found while polling double the allowance again, up to the maximum")
    func growsWhenPollingPays() {
        var spin = AdaptiveSpin()
        for _ in 0..<3 {
            _ = spin.keepSpinning(rounds: 1)
            spin.willSleep()
        }
        #expect(spin.limit == .microseconds(25))
        _ = spin.keepSpinning(rounds: 1)
        spin.framesArrived()
        #expect(spin.limit == .microseconds(50))
        for _ in 0..<10 {
            _ = spin.keepSpinning(rounds: 1)
            spin.framesArrived()
        }
        #expect(spin.limit == AdaptiveSpin.maximum)
        // Frames that arrive after a sleep say nothing for polling.
        _ = spin.keepSpinning(rounds: 1)
        spin.willSleep()
        spin.framesArrived()
        #expect(spin.limit == .microseconds(100))
    }

    @Test("a poll()-driven thread tries a 50-µs spin every 1024th sleep, in case the kernel's work has moved")
    func probesAgain() {
        var spin = AdaptiveSpin()
        while spin.limit > .zero {
            _ = spin.keepSpinning(rounds: 1)
            spin.willSleep()
        }
        var sleeps = 0
        while spin.limit == .zero {
            _ = spin.keepSpinning(rounds: 1)
            spin.willSleep()
            sleeps += 1
            #expect(sleeps <= 1024)
        }
        #expect(spin.limit == AdaptiveSpin.probe)
    }

    @Test("light traffic sleeps in poll(); while a stream flows it naps; a nap that finds nothing goes back to poll()")
    func napsWhileStreaming() {
        var spin = AdaptiveSpin(ringSize: 2048, batchSize: 64)
        // A spell of a few frames (a ping): poll() until the next one.
        spin.spellEnded(frames: 3)
        _ = spin.keepSpinning(rounds: 1)
        #expect(spin.willSleep() == .untilFrames)
        // A spell of half a batch or more: a stream; nap instead of a wakeup per burst.
        spin.framesArrived()
        spin.spellEnded(frames: 64)
        _ = spin.keepSpinning(rounds: 1)
        #expect(spin.willSleep() == .nap(.microseconds(100)))
        // The nap found frames (half the ring: the nap fits): nap again, as long.
        spin.framesArrived()
        spin.spellEnded(frames: 1024)
        _ = spin.keepSpinning(rounds: 1)
        #expect(spin.willSleep() == .nap(.microseconds(100)))
        // The stream stopped: the nap found nothing, so the next sleep waits for frames.
        #expect(spin.willSleep() == .untilFrames)
        #expect(spin.willSleep() == .untilFrames)
    }

    @Test("a nap that let three quarters of the ring or more fill halves, one under a quarter doubles, within 10 µs-1 ms")
    func napFitsTheRing() {
        var spin = AdaptiveSpin(ringSize: 2048, batchSize: 64)
        spin.spellEnded(frames: 64)
        var naps: [Duration] = []
        // A fast stream: every nap finds a full ring, down to the shortest nap.
        for _ in 0..<8 {
            _ = spin.keepSpinning(rounds: 1)
            guard case .nap(let length) = spin.willSleep() else { Issue.record("expected a nap"); return }
            naps.append(length)
            spin.framesArrived()
            spin.spellEnded(frames: 2048)
        }
        #expect(naps.prefix(5) == [.microseconds(100), .microseconds(50), .microseconds(25), .microseconds(12.5), .microseconds(10)])
        #expect(spin.nap == AdaptiveSpin.shortestNap)
        // A slow stream (40 frames a nap: a stream, but under a quarter of the ring): up to 1 ms.
        for _ in 0..<12 {
            _ = spin.keepSpinning(rounds: 1)
            spin.willSleep()
            spin.framesArrived()
            spin.spellEnded(frames: 40)
        }
        #expect(spin.nap == AdaptiveSpin.longestNap)
        // Spells that were not after a nap (polling found them) leave the nap's length alone.
        spin.spellEnded(frames: 2048)
        #expect(spin.nap == AdaptiveSpin.longestNap)
    }
}
