import Testing
@testable import XSKJobs

/// The forecast of steady light traffic, on made-up clocks: a period learnt from bursts that
/// come a steady interval apart, replies within a burst ignored, a window that opens before the
/// burst is due, and no forecast for traffic without a steady period or once the bursts stop.
@Suite("Arrival forecast")
struct ArrivalForecastTests {
    static let period: UInt64 = 2_000_000

    /// `bursts` requests `period` apart (with `jitter(i)` added), each with a reply 30 us later.
    static func feed(_ forecast: inout ArrivalForecast, from start: UInt64, bursts: Int, jitter: (Int) -> UInt64 = { _ in 0 }) -> UInt64 {
        var time = start
        for i in 0..<bursts {
            time = start + UInt64(i) * period + jitter(i)
            forecast.spellStarted(at: time)
            forecast.spellStarted(at: time + 30_000)
        }
        return time
    }

    @Test("steady bursts with replies: the period is learnt, and the thread sleeps until the lead before the next")
    func learnsPeriod() throws {
        var forecast = ArrivalForecast()
        let last = Self.feed(&forecast, from: 1_000_000_000, bursts: 10, jitter: { UInt64($0 % 3) * 20_000 })
        #expect(forecast.period >= Self.period - 40_000 && forecast.period <= Self.period + 40_000, "\(forecast.period)")
        let now = last + 300_000
        let planned = forecast.sleepBeforeBurst(now: now)
        let sleep = try #require(planned)
        // Wakes before the burst due, by at least the wakeup allowance, and the window ends after it.
        let due = forecast.anchor + forecast.period
        #expect(now + sleep + ArrivalForecast.wakeupAllowance <= due)
        #expect(forecast.windowEnd > due && forecast.windowStart == now + sleep)
        // Polling through the window: in it until its end, then a miss.
        let polling = forecast.inWindow(now: forecast.windowStart)
        #expect(polling)
        let end = forecast.windowEnd
        let pollingAtEnd = forecast.inWindow(now: end)
        #expect(!pollingAtEnd && forecast.missed == 1 && forecast.windowEnd == 0)
    }

    @Test("a burst in its window is caught; one well before it is a stray and leaves the window; one just before it is early and lengthens the lead")
    func caughtStrayEarly() throws {
        var forecast = ArrivalForecast()
        var last = Self.feed(&forecast, from: 1_000_000_000, bursts: 10)
        #expect(forecast.sleepBeforeBurst(now: last + 100_000) != nil)
        last = forecast.anchor + forecast.period
        forecast.spellStarted(at: last)
        #expect(forecast.caught == 1 && forecast.windowEnd == 0)
        // A stray half a period ahead of the next window.
        #expect(forecast.sleepBeforeBurst(now: last + 100_000) != nil)
        let window = forecast.windowStart
        forecast.spellStarted(at: last + 1_000_000)
        #expect(forecast.windowStart == window && forecast.windowEnd != 0 && forecast.early == 0)
        // After the stray, before the window: no polling, and the window stays.
        let pollingBefore = forecast.inWindow(now: last + 1_000_001)
        #expect(!pollingBefore && forecast.windowEnd != 0 && forecast.missed == 0)
        // Just before the window: early, and the lead grows.
        forecast.spellStarted(at: window - 10_000)
        #expect(forecast.early == 1 && forecast.lead == ArrivalForecast.wakeupAllowance + ArrivalForecast.leadStepUp)
    }

    @Test("no forecast for bursts without a steady period, nor after windows close empty, nor once the traffic has stopped")
    func noForecast() {
        var irregular = ArrivalForecast()
        var time: UInt64 = 1_000_000_000
        for gap: UInt64 in [300_000, 2_000_000, 700_000, 5_000_000, 400_000, 1_500_000, 9_000_000, 250_000, 3_000_000, 600_000] {
            time += gap
            irregular.spellStarted(at: time)
        }
        let irregularSleep = irregular.sleepBeforeBurst(now: time + 100_000)
        #expect(irregular.period == 0 && irregularSleep == nil)

        var stopped = ArrivalForecast()
        let last = Self.feed(&stopped, from: 1_000_000_000, bursts: 10)
        #expect(stopped.period != 0)
        var clock = last + 1
        for _ in 0..<ArrivalForecast.missesToDrop {
            guard let sleep = stopped.sleepBeforeBurst(now: clock) else { break }
            let start = clock + sleep
            clock = stopped.windowEnd + 1
            let open = stopped.inWindow(now: start)
            let closed = !stopped.inWindow(now: stopped.windowEnd)
            #expect(open && closed)
        }
        #expect(stopped.period == 0 && stopped.missed == ArrivalForecast.missesToDrop)

        var idle = ArrivalForecast()
        let end = Self.feed(&idle, from: 1_000_000_000, bursts: 10)
        let idleSleep = idle.sleepBeforeBurst(now: end + 20 * Self.period)
        #expect(idleSleep == nil && idle.period == 0)
    }
}
