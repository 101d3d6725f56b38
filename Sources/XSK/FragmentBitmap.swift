// Which fragments a queue has handed to the kernel (posted to the fill ring, or queued for
// transmit) and not yet had back: one bit per possible fragment start. Marking and clearing are
// O(1) with no allocation, so the per-packet path can afford it, and it is what lets teardown
// give back what the kernel kept when the socket closed: the kernel returns nothing then, and
// a fragment consumed from the fill ring but never delivered leaves no other trace.
//
// Single owner (the queue's thread); not thread-safe, not Sendable. A class whose stored
// properties are all constants: marking writes the bitmap's memory, never the object, so the
// per-packet calls carry no exclusivity check. (A non-copyable struct would say "one owner"
// more directly, but Swift 6.3 crashes compiling one like it under -sanitize=thread.)

/// The fragments a queue has handed to the kernel and not yet had back: one bit per possible
/// fragment start.
///
/// Marking and clearing are O(1) with no allocation, for the per-packet path. A bitmap has one
/// owner, the queue's thread: it is neither thread-safe nor `Sendable`.
public final class FragmentBitmap {
    /// Fragment starts are multiples of this (the queue's fragment alignment).
    public let granularity: Int
    @usableFromInline let shift: Int
    @usableFromInline let words: UnsafeMutablePointer<UInt64>
    @usableFromInline let wordCount: Int

    /// A bitmap for fragment starts in a region of `regionSize` bytes, each a multiple of
    /// `granularity` (a power of two).
    public init(regionSize: Int, granularity: Int) {
        precondition(granularity > 0 && granularity & (granularity - 1) == 0, "granularity \(granularity) must be a power of two")
        self.granularity = granularity
        shift = granularity.trailingZeroBitCount
        wordCount = (regionSize / granularity + 63) / 64
        words = .allocate(capacity: wordCount)
        words.initialize(repeating: 0, count: wordCount)
    }

    deinit { words.deallocate() }

    /// Marks the fragment starting at `offset` as with the kernel.
    @inlinable
    public func insert(_ offset: UInt64) {
        let (word, bit) = position(offset)
        assert(words[word] & bit == 0, "fragment at \(offset) handed to the kernel twice")
        words[word] |= bit
    }

    /// Clears the mark; returns false when the fragment was not marked (an address the kernel
    /// should not have returned).
    @inlinable
    @discardableResult
    public func remove(_ offset: UInt64) -> Bool {
        let (word, bit) = position(offset)
        guard words[word] & bit != 0 else { return false }
        words[word] &= ~bit
        return true
    }

    /// Whether the fragment starting at `offset` is marked.
    @inlinable
    public func contains(_ offset: UInt64) -> Bool {
        let (word, bit) = position(offset)
        return words[word] & bit != 0
    }

    /// Fragments marked now (counted, not kept: reading it is for the census, not per packet).
    public var count: Int {
        var total = 0
        for word in 0..<wordCount { total += words[word].nonzeroBitCount }
        return total
    }

    /// Calls `body` with every marked offset and clears them all.
    public func removeAll(_ body: (UInt64) -> Void) {
        for word in 0..<wordCount where words[word] != 0 {
            var bits = words[word]
            while bits != 0 {
                let bit = bits.trailingZeroBitCount
                body(UInt64((word << 6 | bit) << shift))
                bits &= bits - 1
            }
            words[word] = 0
        }
    }

    @inlinable
    func position(_ offset: UInt64) -> (Int, UInt64) {
        assert(offset & UInt64(granularity - 1) == 0, "offset \(offset) is not a multiple of \(granularity)")
        let index = Int(truncatingIfNeeded: offset >> UInt64(shift))
        return (index >> 6, 1 << UInt64(index & 63))
    }
}
