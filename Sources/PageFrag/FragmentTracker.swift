// A debug-build guard against the two ways a caller can corrupt reference counts without the
// counts themselves noticing: freeing a fragment twice, and freeing an address that no cache
// ever handed out. Both look like a valid decrement to the page, which may then be returned to
// the pool while other fragments on it are still in use.
//
// One bit per byte of the region marks "a live fragment starts here". The bits are flipped
// with relaxed atomic read-modify-writes, which order nothing, so turning the tracker on does
// not hide a missing happens-before edge from ThreadSanitizer.

import Synchronization

@usableFromInline
struct FragmentTracker {
    @usableFromInline let words: UnsafeMutablePointer<Atomic<UInt64>>
    @usableFromInline let wordCount: Int

    init(regionSize: Int) {
        wordCount = (regionSize + 63) / 64
        words = .allocate(capacity: wordCount)
        for index in 0..<wordCount { (words + index).initialize(to: Atomic(0)) }
    }

    func deallocate() {
        words.deinitialize(count: wordCount).deallocate()
    }

    /// Records that a cache handed out a fragment starting at `offset`.
    @inlinable
    func markAllocated(_ offset: UInt64) {
        let bit: UInt64 = 1 &<< (offset & 63)
        let old = words[Int(truncatingIfNeeded: offset &>> 6)].bitwiseOr(bit, ordering: .relaxed).oldValue
        assert(old & bit == 0, "fragment at offset \(offset) handed out while a live fragment starts there")
    }

    /// Records that the fragment starting at `offset` came home; traps if none was live there.
    @inlinable
    func markFreed(_ fragment: Fragment) {
        let bit: UInt64 = 1 &<< (fragment.offset & 63)
        let old = words[Int(truncatingIfNeeded: fragment.offset &>> 6)].bitwiseAnd(~bit, ordering: .relaxed).oldValue
        precondition(
            old & bit != 0,
            "free of \(fragment): no live fragment starts there (double free, or an address no cache handed out)")
    }

    /// Number of live fragment starts: the outstanding fragments, counted independently of the
    /// reference counts (a cross-check for the census).
    func liveCount() -> Int {
        var total = 0
        for index in 0..<wordCount { total += words[index].load(ordering: .relaxed).nonzeroBitCount }
        return total
    }
}
