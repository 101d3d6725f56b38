import Testing
@testable import XSKJobs
import XSK

/// The adaptive wait under a latency cap, without a ring: a cap that a wakeup from sleep would
/// break keeps the thread polling; a wider one shortens the naps to fit, or sleeps in poll()
/// where even the shortest nap would not.
@Suite("Idle wait with a latency cap")
struct IdleWaitTests {
    /// Empty rounds after a streaming spell until the wait says to sleep (or `limit` rounds).
    static func firstSleep(_ wait: inout IdleWait, limit: Int = 50_000_000) -> IdleWait.Action? {
        _ = wait.after(frames: 64)  // a full batch: a stream flows
        for _ in 0..<limit {
            if let action = wait.after(frames: 0), action != .keepPolling { return action }
        }
        return nil
    }

    @Test("without a cap, a streaming thread naps for the adaptive nap (100 us or more, as it learns)")
    func uncapped() throws {
        var wait = IdleWait(mode: .adaptive, ringSize: 2048, batchSize: 64)
        // The first spell learns nothing of a stream yet; the second follows it.
        _ = Self.firstSleep(&wait)
        guard case .sleep(.nap(let nap)) = try #require(Self.firstSleep(&wait)) else {
            Issue.record("no nap while a stream flows")
            return
        }
        #expect(nap >= .microseconds(100))
    }

    @Test("a cap shorter than the machine's wakeup: the thread never sleeps")
    func capBelowWakeup() {
        var wait = IdleWait(mode: .adaptive, ringSize: 2048, batchSize: 64, maxLatency: .microseconds(30), wakeupLatency: .microseconds(40))
        _ = wait.after(frames: 64)
        #expect((0..<200_000).allSatisfy { _ in wait.after(frames: 0) == .keepPolling })
    }

    @Test("a cap above the wakeup: naps shortened to the cap less the wakeup")
    func napsShortened() {
        var wait = IdleWait(mode: .adaptive, ringSize: 2048, batchSize: 64, maxLatency: .microseconds(60), wakeupLatency: .microseconds(20))
        _ = Self.firstSleep(&wait)
        #expect(Self.firstSleep(&wait) == .sleep(.nap(.microseconds(40))))
    }

    @Test("a cap that leaves no room for the shortest nap: poll(), which wakes at the first frame")
    func noRoomForANap() {
        var wait = IdleWait(mode: .adaptive, ringSize: 2048, batchSize: 64, maxLatency: .microseconds(25), wakeupLatency: .microseconds(20))
        _ = Self.firstSleep(&wait)
        #expect(Self.firstSleep(&wait) == .sleep(.untilFrames))
    }

    @Test("the wakeup measurement is positive and well under a second")
    func wakeupMeasured() {
        let wakeup = IdleWait.measureWakeupLatency()
        #expect(wakeup >= .zero && wakeup < .milliseconds(100), "\(wakeup)")
    }
}
