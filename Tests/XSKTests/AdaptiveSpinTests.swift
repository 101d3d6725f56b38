import Testing
@testable import XSK

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
}
