// Latencies in fixed memory, recorded without allocation: log-linear buckets as HdrHistogram
// lays them out. Values below 64 have a bucket each; above, every power of two is split into
// 32 equal buckets, so a bucket is at most 1/32 of its lower bound wide and the middle of a
// bucket is within 1/64 of any value in it. 1920 buckets of 64-bit counts (15 KiB) cover every
// UInt64. One record is a leading-zero count, a shift and an increment.

/// A histogram of durations in nanoseconds (or any UInt64 values), with percentiles whose
/// relative error is bounded by 1/64 (`relativeError`), min and max exact.
public struct LatencyHistogram: Sendable {
    /// Every UInt64: 64 exact buckets, then 32 per power of two from 2^6 to 2^63.
    public static let bucketCount = 64 + 58 * 32

    /// The most a reported percentile can be off from a recorded value, relative to it.
    public static let relativeError = 1.0 / 64

    private var counts = InlineArray<1920, UInt64>(repeating: 0)
    /// Values recorded.
    public private(set) var count: UInt64 = 0
    /// The smallest value recorded (`UInt64.max` before the first).
    public private(set) var min: UInt64 = .max
    /// The largest value recorded (0 before the first).
    public private(set) var max: UInt64 = 0
    /// The sum of the values, for the mean (wraps only past 2^64 ns, 584 years).
    public private(set) var sum: UInt64 = 0

    /// An empty histogram.
    public init() {}

    /// The bucket that holds `value`.
    static func bucket(of value: UInt64) -> Int {
        if value < 64 { return Int(value) }
        // value >> shift is in 32..<64: the power of two's 32 sub-buckets.
        let shift = (63 - value.leadingZeroBitCount) - 5
        return 64 + (shift - 1) * 32 + Int(value >> UInt64(shift)) - 32
    }

    /// The values bucket `index` holds: lowerBound..<lowerBound + width.
    static func range(of index: Int) -> (lowerBound: UInt64, width: UInt64) {
        if index < 64 { return (UInt64(index), 1) }
        let shift = (index - 64) / 32 + 1
        let sub = UInt64((index - 64) % 32 + 32)
        return (sub << UInt64(shift), 1 << UInt64(shift))
    }

    /// Records one value.
    public mutating func record(_ value: UInt64) {
        counts[Self.bucket(of: value)] &+= 1
        count &+= 1
        sum &+= value
        if value < min { min = value }
        if value > max { max = value }
    }

    /// Adds another histogram's values (another queue's, say).
    public mutating func merge(_ other: LatencyHistogram) {
        guard other.count > 0 else { return }
        for index in 0..<Self.bucketCount { counts[index] &+= other.counts[index] }
        count &+= other.count
        sum &+= other.sum
        min = Swift.min(min, other.min)
        max = Swift.max(max, other.max)
    }

    /// The value at `quantile` (0...1): the middle of the bucket where the cumulative count
    /// reaches ⌈quantile × count⌉, kept within min...max (0 and 1 give min and max exactly);
    /// nil before the first value.
    public func value(atQuantile quantile: Double) -> UInt64? {
        precondition((0...1).contains(quantile), "a quantile is within 0...1, not \(quantile)")
        guard count > 0 else { return nil }
        // The ends are known exactly.
        if quantile == 0 { return min }
        if quantile == 1 { return max }
        let rank = Swift.max(1, UInt64((quantile * Double(count)).rounded(.up)))
        var seen: UInt64 = 0
        for index in 0..<Self.bucketCount {
            seen &+= counts[index]
            if seen >= rank {
                let (lowerBound, width) = Self.range(of: index)
                let middle = lowerBound + (width - 1) / 2
                return Swift.min(Swift.max(middle, min), max)
            }
        }
        return max
    }

    /// The mean, nil before the first value.
    public var mean: Double? { count == 0 ? nil : Double(sum) / Double(count) }

    /// Cumulative counts at each upper bound in `bounds` (ascending), for a Prometheus
    /// histogram's `_bucket{le=...}` series: values counted at a bound are those whose bucket
    /// ends at or below it (a bucket straddling a bound counts above it).
    public func cumulativeCounts(atUpperBounds bounds: [UInt64]) -> [UInt64] {
        var result: [UInt64] = []
        result.reserveCapacity(bounds.count)
        var seen: UInt64 = 0
        var index = 0
        for bound in bounds {
            while index < Self.bucketCount {
                let (lowerBound, width) = Self.range(of: index)
                guard lowerBound + (width - 1) <= bound else { break }
                seen &+= counts[index]
                index += 1
            }
            result.append(seen)
        }
        return result
    }
}
