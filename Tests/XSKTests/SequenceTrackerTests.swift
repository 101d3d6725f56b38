import Testing
import TestSupport
import XSKJobs

/// Loss, reordering and duplicates counted from crafted sequences.
@Suite("SequenceTracker: loss, reordering, duplicates, wrap-around, restarts")
struct SequenceTrackerTests {
    static func counts(_ sequences: [UInt64]) -> SequenceCounts {
        var tracker = SequenceTracker()
        for sequence in sequences { tracker.record(sequence) }
        return tracker.counts
    }

    static func expect(_ sequences: [UInt64], lost: UInt64 = 0, reordered: UInt64 = 0, duplicated: UInt64 = 0, restarts: UInt64 = 0,
                       sourceLocation: SourceLocation = #_sourceLocation) {
        let counts = counts(sequences)
        #expect(counts.received == UInt64(sequences.count), sourceLocation: sourceLocation)
        #expect(counts.lost == lost, "lost", sourceLocation: sourceLocation)
        #expect(counts.reordered == reordered, "reordered", sourceLocation: sourceLocation)
        #expect(counts.duplicated == duplicated, "duplicated", sourceLocation: sourceLocation)
        #expect(counts.restarts == restarts, "restarts", sourceLocation: sourceLocation)
    }

    @Test("in order: nothing lost; gaps: lost; a gap filled late: reordered, not lost")
    func gapsAndReordering() {
        Self.expect(Array(0..<5000))
        Self.expect([0, 1, 2, 5, 6, 9], lost: 4)
        Self.expect([0, 1, 3, 2, 4], reordered: 1)
        Self.expect([0, 2, 1, 4, 3, 6, 5], reordered: 3)
        Self.expect([10, 11, 15, 12, 13], lost: 1, reordered: 2)
        // Late by almost the whole window still counts as reordered.
        Self.expect([0] + Array(2...1024) + [1], reordered: 1)
    }

    @Test("duplicates: the same number twice, in order or late, counted once each and not as reordering")
    func duplicates() {
        Self.expect([0, 1, 1, 2], duplicated: 1)
        Self.expect([0, 1, 2, 3, 1, 2], duplicated: 2)
        Self.expect([0, 2, 1, 1], reordered: 1, duplicated: 1)
        Self.expect(Array(0..<300) + Array(0..<300).map { $0 + 100 }.filter { $0 < 300 }, duplicated: 200)
    }

    @Test("wrap-around: a 64-bit sequence followed across its wrap, gaps and late frames included")
    func wrapAround() {
        let top = UInt64.max
        Self.expect([top - 2, top - 1, top, 0, 1, 2])
        Self.expect([top - 1, top, 1, 2], lost: 1)
        Self.expect([top - 1, 0, top, 1], reordered: 1)
    }

    @Test("a sender that starts again (far behind the window) is a restart, not loss or duplicates")
    func restarts() {
        Self.expect(Array(0..<5000) + Array(0..<5000), restarts: 1)
        Self.expect(Array(100_000..<102_000) + Array(0..<10), restarts: 1)
        var tracker = SequenceTracker()
        for sequence in 0..<3000 as Range<UInt64> { tracker.record(sequence) }
        tracker.record(0)
        #expect(tracker.expected == 1, "followed from the restart")
        tracker.record(2)
        #expect(tracker.counts.lost == 1)
    }

    @Test("a seeded shuffle within a small distance: every frame seen once, nothing lost at the end")
    func localShuffle() {
        var random = SeededGenerator(seed: 4)
        var sequences = Array(0..<20_000 as Range<UInt64>)
        for start in stride(from: 0, to: sequences.count - 16, by: 16) {
            sequences[start..<start + 16].shuffle(using: &random)
        }
        let counts = Self.counts(sequences)
        #expect(counts.lost == 0 && counts.duplicated == 0 && counts.restarts == 0)
        #expect(counts.reordered > 0)
    }
}
