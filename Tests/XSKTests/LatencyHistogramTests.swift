import Foundation
import Testing
import TestSupport
import XSKJobs

/// The histogram's percentiles against the exact percentiles of seeded random samples.
@Suite("LatencyHistogram: bounded relative error, fixed memory")
struct LatencyHistogramTests {
    /// The exact value at `quantile` of sorted samples, by the same rank rule (⌈q × n⌉).
    static func exact(_ sorted: [UInt64], _ quantile: Double) -> UInt64 {
        let rank = max(1, Int((quantile * Double(sorted.count)).rounded(.up)))
        return sorted[rank - 1]
    }

    @Test("percentiles within 1/64 of the exact ones: log-uniform samples from 100 ns to 10 s, three seeds", arguments: [1, 2, 3] as [UInt64])
    func percentiles(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        var histogram = LatencyHistogram()
        var samples: [UInt64] = []
        for _ in 0..<100_000 {
            let value = UInt64(exp(Double.random(in: log(100.0)...log(1e10), using: &random)))
            samples.append(value)
            histogram.record(value)
        }
        samples.sort()
        #expect(histogram.count == 100_000)
        #expect(histogram.min == samples.first && histogram.max == samples.last)
        for quantile in [0.0, 0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0] {
            let exact = Double(Self.exact(samples, quantile))
            let reported = Double(histogram.value(atQuantile: quantile)!)
            #expect(abs(reported - exact) / exact <= LatencyHistogram.relativeError, "q \(quantile): \(reported) against \(exact)")
        }
        #expect(abs(histogram.mean! - Double(samples.reduce(0, +)) / 1e5) < 1)
    }

    @Test("small values are exact, the largest values fit, and an empty histogram has no percentiles")
    func edges() {
        var histogram = LatencyHistogram()
        #expect(histogram.value(atQuantile: 0.5) == nil && histogram.mean == nil)
        for value in 0..<64 as Range<UInt64> { histogram.record(value) }
        #expect(histogram.value(atQuantile: 0.5) == 31)
        #expect(histogram.value(atQuantile: 1) == 63)
        histogram.record(.max)
        #expect(histogram.max == .max && histogram.value(atQuantile: 1) == .max)
        #expect(MemoryLayout<LatencyHistogram>.size < 16 * 1024, "fixed memory: \(MemoryLayout<LatencyHistogram>.size) bytes")
    }

    @Test("merging two histograms is recording both sets of values")
    func merge() {
        var random = SeededGenerator(seed: 9)
        var a = LatencyHistogram()
        var b = LatencyHistogram()
        var both = LatencyHistogram()
        for index in 0..<20_000 {
            let value = UInt64.random(in: 1_000...5_000_000, using: &random)
            if index % 3 == 0 { a.record(value) } else { b.record(value) }
            both.record(value)
        }
        a.merge(b)
        for quantile in [0.5, 0.9, 0.99] { #expect(a.value(atQuantile: quantile) == both.value(atQuantile: quantile)) }
        #expect(a.count == both.count && a.min == both.min && a.max == both.max && a.sum == both.sum)
    }

    @Test("cumulative counts at upper bounds, as a Prometheus histogram's buckets")
    func cumulative() {
        var histogram = LatencyHistogram()
        for value in [10, 20, 1_000, 1_000_000, 2_000_000] as [UInt64] { histogram.record(value) }
        #expect(histogram.cumulativeCounts(atUpperBounds: [15, 63, 10_000, 1_999_999, .max]) == [1, 2, 3, 4, 5])
    }
}
