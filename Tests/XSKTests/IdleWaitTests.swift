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
        _ = wait.after(frames: 64, received: 64)  // a full batch: a stream flows
        for _ in 0..<limit {
            if let action = wait.after(frames: 0, received: 0), action != .keepPolling { return action }
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
        var wait = IdleWait(mode: .adaptive, ringSize: 2048, batchSize: 64, maxLatency: .microseconds(30), wakeup: WakeupLatency(signalled: .microseconds(40), timed: .microseconds(10)))
        _ = wait.after(frames: 64, received: 64)
        #expect((0..<200_000).allSatisfy { _ in wait.after(frames: 0, received: 0) == .keepPolling })
    }

    @Test("a cap above the wakeup: naps shortened to the cap less the wakeup")
    func napsShortened() {
        var wait = IdleWait(mode: .adaptive, ringSize: 2048, batchSize: 64, maxLatency: .microseconds(60), wakeup: WakeupLatency(signalled: .microseconds(50), timed: .microseconds(20)))
        _ = Self.firstSleep(&wait)
        #expect(Self.firstSleep(&wait) == .sleep(.nap(.microseconds(40))))
    }

    @Test("a cap that leaves no room for the shortest nap: poll(), which wakes at the first frame")
    func noRoomForANap() {
        var wait = IdleWait(mode: .adaptive, ringSize: 2048, batchSize: 64, maxLatency: .microseconds(25), wakeup: WakeupLatency(signalled: .microseconds(20), timed: .microseconds(20)))
        _ = Self.firstSleep(&wait)
        #expect(Self.firstSleep(&wait) == .sleep(.untilFrames))
    }

    @Test("a signalled wake later than the cap: never sleeps, however short a timed nap is")
    func signalledWakeBreaksCap() {
        var wait = IdleWait(
            mode: .adaptive, ringSize: 2048, batchSize: 64, maxLatency: .microseconds(50),
            wakeup: WakeupLatency(signalled: .microseconds(80), timed: .microseconds(10)))
        _ = wait.after(frames: 64, received: 64)
        #expect((0..<200_000).allSatisfy { _ in wait.after(frames: 0, received: 0) == .keepPolling })
    }

    @Test("the wakeup measurements: positive, well under a second, the signalled one through another CPU's eventfd write")
    func wakeupMeasured() throws {
        let wakeup = try WakeupLatency.measure(context: "test")
        #expect(wakeup.signalled > .zero && wakeup.signalled < .milliseconds(100), "\(wakeup)")
        #expect(wakeup.timed >= .zero && wakeup.timed < .milliseconds(100), "\(wakeup)")
    }

    @Test("the 99th percentile, taken one rank high (index count × 99 / 100): the largest of 100 values, the 199th of 200, the largest of fewer than 100")
    func percentile() {
        let hundred = (1...100).map { Duration.microseconds($0) }.shuffled()
        #expect(WakeupLatency.percentile99(hundred) == .microseconds(100))
        #expect(WakeupLatency.percentile99((1...200).map { Duration.microseconds($0) }) == .microseconds(199))
        #expect(WakeupLatency.percentile99([.microseconds(3), .microseconds(1)]) == .microseconds(3))
    }

    @Test("the cap's check: one late wake in a hundred is kept, a second holds sleeping off, and holds double until a window keeps the cap")
    func capWatch() {
        var watch = LatencyCapWatch(cap: .microseconds(50))
        #expect(watch.cap == 50_000)
        var now: UInt64 = 1_000_000_000
        func wake(_ waited: UInt64) {
            watch.armed = true
            now += 2_000_000
            watch.woke(arrival: now - waited, now: now)
        }
        // One late wake among a window of 100: the cap is kept, no hold.
        wake(80_000)
        for _ in 0..<99 { wake(20_000) }
        #expect(watch.holds == 0 && watch.holdUntil == 0 && !watch.armed)
        // Two late in the next window: a hold of a second from the second.
        wake(80_000)
        wake(20_000)
        wake(90_000)
        #expect(watch.holds == 1 && watch.holdUntil == now + LatencyCapWatch.shortestHold)
        #expect(watch.holdLength == 2 * LatencyCapWatch.shortestHold)
        // Again at once: the next hold is twice as long, and so on up to the longest.
        for _ in 0..<10 { wake(60_000); wake(60_000) }
        #expect(watch.holds == 11 && watch.holdLength == LatencyCapWatch.longestHold)
        // A window that keeps the cap forgets the holds' length.
        for _ in 0..<100 { wake(10_000) }
        #expect(watch.holdLength == LatencyCapWatch.shortestHold && watch.holds == 11)
        // A stamp later than the wake (a clock step) is not counted.
        watch.armed = true
        watch.woke(arrival: now + 1, now: now)
        #expect(watch.totalChecks == 1 + 99 + 3 + 20 + 100 && watch.totalMisses == 1 + 2 + 20 && !watch.armed)
    }

    @Test("a hold keeps the adaptive wait polling; once it has passed, the wait sleeps again")
    func holdKeepsPolling() {
        var wait = IdleWait(
            mode: .adaptive, ringSize: 2048, batchSize: 64, maxLatency: .microseconds(200),
            wakeup: WakeupLatency(signalled: .microseconds(40), timed: .microseconds(20)))
        #expect(Self.firstSleep(&wait) != nil && wait.capWatch?.armed == true)
        wait.capWatch!.holdUntil = ProbeStamp.now() + 60_000_000_000
        #expect(Self.firstSleep(&wait, limit: 200_000) == nil)
        wait.capWatch!.holdUntil = ProbeStamp.now() - 1
        #expect(Self.firstSleep(&wait) != nil && wait.capWatch?.holdUntil == 0)
    }

    @Test("a stamp from well before the sleep began (one its buffer kept from an earlier use) is not checked; one from just before it is")
    func staleStampSkipped() {
        var watch = LatencyCapWatch(cap: .microseconds(50))
        let sleepStart: UInt64 = 5_000_000_000
        watch.arm(now: sleepStart)
        watch.woke(arrival: sleepStart - 10_000_000, now: sleepStart + 100_000)
        #expect(watch.totalChecks == 0 && watch.totalMisses == 0 && !watch.armed)
        watch.arm(now: sleepStart)
        watch.woke(arrival: sleepStart - 10_000, now: sleepStart + 100_000)
        #expect(watch.totalChecks == 1 && watch.totalMisses == 1)
    }

    /// Empty rounds until the wait says something other than keep polling (or `limit` rounds).
    static func firstAction(_ wait: inout IdleWait, limit: Int = 50_000_000) -> IdleWait.Action? {
        for _ in 0..<limit {
            if let action = wait.after(frames: 0, received: 0), action != .keepPolling { return action }
        }
        return nil
    }

    @Test("with a forecast burst due, the wait sleeps until its window; woken before it, it sleeps again; in it, it polls without counting a sleep; without a forecast, poll() as before")
    func forecastDrivesTheWait() throws {
        var wait = IdleWait(mode: .adaptive, ringSize: 2048, batchSize: 64)
        // One frame received: light traffic, no stream (the next sleep is no nap).
        _ = wait.after(frames: 1, received: 1)
        let period: UInt64 = 20_000_000
        var now = ProbeStamp.now()
        wait.forecast.period = period
        wait.forecast.anchor = now
        wait.forecast.lastBurst = now
        guard case .anticipate(let sleep) = try #require(Self.firstAction(&wait)) else {
            Issue.record("no sleep until the burst's window")
            return
        }
        #expect(sleep > .zero && sleep <= .nanoseconds(Int64(period)), "\(sleep)")
        // Woken before the window (a sleep cut short): the window stays and the wait sleeps again.
        let window = wait.forecast.windowStart
        guard case .anticipate = try #require(Self.firstAction(&wait, limit: 64)) else {
            Issue.record("polled before the window opened")
            return
        }
        #expect(wait.forecast.windowStart == window && wait.forecast.missed == 0)
        // The window open: polling through it, the spin's allowance untouched.
        now = ProbeStamp.now()
        wait.forecast.anchor = now - period + 50_000  // due in 50 us: inside the 120 us lead
        wait.forecast.windowEnd = 0
        let limit = wait.spin.limit
        #expect((0..<64).allSatisfy { _ in wait.after(frames: 0, received: 0) == .keepPolling })
        #expect(wait.forecast.windowEnd != 0 && wait.spin.limit == limit)
        // The forecast dropped: poll() until frames.
        wait.forecast.period = 0
        wait.forecast.windowEnd = 0
        #expect(Self.firstAction(&wait) == .sleep(.untilFrames))
    }

    @Test("frames the job produced, with none received, do not teach the forecast")
    func producedFramesNotArrivals() {
        var wait = IdleWait(mode: .adaptive, ringSize: 2048, batchSize: 64)
        for _ in 0..<20 {
            _ = wait.after(frames: 1, received: 0)
            _ = Self.firstAction(&wait)
        }
        #expect(wait.forecast.lastSpellStart == 0 && wait.forecast.count == 0)
    }
}
