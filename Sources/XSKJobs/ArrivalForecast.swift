// When the next burst of light traffic is due, for traffic that comes at a steady period (a
// ping, paced probes, a sensor's reports): the adaptive wait then sleeps only until just before
// the burst and polls through its window, so the burst finds the thread awake instead of paying
// a wakeup from poll() (on this project's VM 45-110 us at the 99th percentile, the largest part
// of a light-load round trip through xskd). Traffic without a steady period gets no forecast
// and the wait sleeps in poll() as before; a forecast whose bursts stop coming is dropped.

/// The period of the bursts that come after idle spells, and the window the next is due in.
@usableFromInline
struct ArrivalForecast {
    /// Intervals between bursts kept (the last ones); a forecast needs this many.
    @usableFromInline static let kept = 8
    /// A spell that starts sooner than this after the previous one's start belongs to the same
    /// burst (a forwarder's reply on its other port, say); shorter periods are within the
    /// adaptive wait's spin allowance anyway.
    @usableFromInline static let shortestPeriod: UInt64 = 200_000
    /// Longer periods are not forecast (a wakeup is a small part of them).
    @usableFromInline static let longestPeriod: UInt64 = 1_000_000_000
    /// How late a timed sleep of a few milliseconds ends here, at the default timer slack of
    /// 50 us: measured 33-88 us at the median and 84-161 us at the 99th percentile on this
    /// project's VM. The thread wakes at least this long before the burst's earliest expected
    /// arrival; more while bursts still come before their window (see `lead`).
    @usableFromInline static let wakeupAllowance: UInt64 = 120_000
    /// The lead grows by this for each burst that came before its window opened, and shrinks
    /// by `leadStepDown` after `leadSteadyBursts` caught in a row: at most about one burst in
    /// 500 wakes the thread, at the CPU that costs.
    @usableFromInline static let leadStepUp: UInt64 = 25_000
    @usableFromInline static let leadStepDown: UInt64 = 10_000
    @usableFromInline static let leadSteadyBursts = 200
    /// How much later than its latest expected arrival a burst may come before the window
    /// closes, at least; each window that closes empty widens it by `leadStepUp` (to a quarter
    /// period), steady bursts narrow it again, as for the lead.
    @usableFromInline static let lateAllowance: UInt64 = 50_000
    /// Windows in a row that closed without a burst before the forecast is dropped.
    @usableFromInline static let missesToDrop = 4

    @usableFromInline var intervals = SIMD8<UInt64>()
    @usableFromInline var count = 0
    @usableFromInline var next = 0
    @usableFromInline var lastSpellStart: UInt64 = 0
    @usableFromInline var lastBurst: UInt64 = 0
    /// Where the last burst sits on the traffic's schedule: a burst the thread was woken by is
    /// seen late (by the wakeup), one it polled for on time, and timers never fire early, so
    /// the schedule follows the earliest sightings at once and later ones only an eighth of
    /// the way. (Anchored on the sightings themselves, every wakeup would push the next
    /// window late by as much, and the next burst would wake the thread again.)
    @usableFromInline var anchor: UInt64 = 0
    /// The steady period (the median interval), 0 when there is none.
    @usableFromInline var period: UInt64 = 0
    /// How much earlier and later than `lastBurst + period` bursts have come (the second
    /// smallest and second largest kept intervals against the median: one lost or stray burst
    /// does not widen the window).
    @usableFromInline var earliest: UInt64 = 0
    @usableFromInline var latest: UInt64 = 0
    /// While nonzero, the window of the burst due now: the thread sleeps until its start and
    /// polls until its end.
    @usableFromInline var windowStart: UInt64 = 0
    @usableFromInline var windowEnd: UInt64 = 0
    @usableFromInline var missesInARow = 0
    /// How long before a burst's earliest expected arrival the thread wakes.
    @usableFromInline var lead = ArrivalForecast.wakeupAllowance
    /// How long after a burst's latest expected arrival the window stays open.
    @usableFromInline var tail = ArrivalForecast.lateAllowance
    @usableFromInline var caughtInARow = 0
    /// Over the run: bursts that came while the thread polled for them, bursts that came
    /// before their window opened (they woke the thread), windows that closed without one.
    @usableFromInline var caught = 0
    @usableFromInline var early = 0
    @usableFromInline var missed = 0

    @usableFromInline init() {}

    /// Frames came at `now` after an idle spell.
    @inlinable
    mutating func spellStarted(at now: UInt64) {
        let previous = lastSpellStart
        lastSpellStart = now
        // Part of the burst before (a reply, say): the window for the next one stays.
        guard previous != 0, now &- previous >= Self.shortestPeriod else { return }
        // Far ahead of the window (more than a quarter period before it): not the burst due
        // but a stray (a reply that came late, another flow); it leaves the forecast alone.
        // Should the traffic have changed its period, the windows that close empty drop it.
        if windowEnd != 0, period != 0, now < windowStart, windowStart - now > period / 4 { return }
        if windowEnd != 0 {
            if now >= windowStart {
                caught &+= 1
                caughtInARow &+= 1
                if caughtInARow >= Self.leadSteadyBursts {
                    caughtInARow = 0
                    lead = max(Self.wakeupAllowance, lead - Self.leadStepDown)
                    tail = max(Self.lateAllowance, tail - Self.leadStepDown)
                }
            } else {
                early &+= 1
                caughtInARow = 0
                if period != 0 { lead = min(lead &+ Self.leadStepUp, Self.wakeupAllowance &+ period / 4) }
            }
            windowEnd = 0
            missesInARow = 0
        }
        if lastBurst != 0 {
            let interval = now &- lastBurst
            if interval > Self.longestPeriod {
                count = 0
                period = 0
            } else {
                intervals[next] = interval
                next = (next + 1) % Self.kept
                count = min(count + 1, Self.kept)
                if count == Self.kept { learn() }
            }
        }
        lastBurst = now
        if period != 0, anchor != 0, now > anchor {
            let slots = (now - anchor + period / 2) / period
            let expected = anchor &+ max(1, slots) &* period
            anchor = now <= expected ? now : expected &+ (now - expected) / 8
        } else {
            anchor = now
        }
    }

    /// The period and spread of the kept intervals, or none when they are not steady.
    @usableFromInline
    mutating func learn() {
        var sorted = intervals
        // Insertion sort of eight: no allocation, no comparator.
        for i in 1..<Self.kept {
            let value = sorted[i]
            var j = i - 1
            while j >= 0, sorted[j] > value {
                sorted[j + 1] = sorted[j]
                j -= 1
            }
            sorted[j + 1] = value
        }
        let median = sorted[Self.kept / 2]
        let low = sorted[1]
        let high = sorted[Self.kept - 2]
        // Steady: all but the extremes within a quarter of the period.
        guard median >= Self.shortestPeriod, high - low <= median / 4 else {
            period = 0
            return
        }
        period = median
        earliest = median - low
        latest = high - median
    }

    /// The wait is about to sleep in poll() at `now`: how long to sleep before polling for
    /// the next burst (zero: poll now, its window is open), or nil without a forecast. At
    /// periods near `shortestPeriod` the window (lead, spread and tail) can cover the whole
    /// period, and the thread then polls throughout, as its spin allowance would at that rate.
    @inlinable
    mutating func sleepBeforeBurst(now: UInt64) -> UInt64? {
        guard period != 0 else { return nil }
        var due = anchor &+ period
        if now > due &+ latest &+ tail {
            // Bursts that did not come (lost, or the traffic stopped): the next one due, unless
            // so many are missing that the forecast is stale.
            let missing = (now - due) / period + 1
            if missing > UInt64(Self.kept) {
                period = 0
                count = 0
                return nil
            }
            due &+= missing &* period
        }
        windowEnd = due &+ latest &+ tail
        let lead = earliest &+ self.lead
        windowStart = due > lead ? due - lead : 0
        guard windowStart > now else { return 0 }
        return windowStart - now
    }

    /// Whether the thread should be polling for a due burst at `now`: inside its window. Before
    /// the window opens (a sleep for it cut short, a stray that woke the thread) it should not:
    /// the window stays, and the wait sleeps again until its start. A window that has closed
    /// counts as missed, and enough of those in a row drop the forecast.
    @inlinable
    mutating func inWindow(now: UInt64) -> Bool {
        guard windowEnd != 0, now >= windowStart else { return false }
        if now < windowEnd { return true }
        windowEnd = 0
        missed &+= 1
        missesInARow &+= 1
        caughtInARow = 0
        tail = min(tail &+ Self.leadStepUp, Self.lateAllowance &+ period / 4)
        if missesInARow >= Self.missesToDrop {
            missesInARow = 0
            period = 0
            count = 0
        }
        return false
    }
}
