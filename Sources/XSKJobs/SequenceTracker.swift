// Loss, reordering and duplicates from the sequence numbers of one flow, in fixed memory: the
// highest sequence seen and a window of the 1024 before it, one bit each. A frame ahead of the
// next expected counts the gap as lost; a frame behind it, inside the window, is either a
// duplicate (its bit is set) or a late one (reordered, and no longer lost). Sequence numbers
// are compared by their wrapping distance, so a counter that wraps is followed across the
// wrap. A frame further behind than the window is taken as the sender starting again (a
// restart): counted, and followed from there.

/// What one flow's sequence numbers say.
public struct SequenceCounts: Sendable, Equatable {
    /// Frames received, duplicates included.
    public var received: UInt64 = 0
    /// Sequence numbers skipped and not seen since (late frames are taken back out).
    public var lost: UInt64 = 0
    /// Frames that arrived after a later one (and were counted lost until then).
    public var reordered: UInt64 = 0
    /// Frames whose sequence number had been seen already.
    public var duplicated: UInt64 = 0
    /// Times the sequence jumped back beyond the window: the sender started again.
    public var restarts: UInt64 = 0

    public init() {}

    /// Adds another flow's counts (for a queue's total).
    public mutating func add(_ other: SequenceCounts) {
        received &+= other.received
        lost &+= other.lost
        reordered &+= other.reordered
        duplicated &+= other.duplicated
        restarts &+= other.restarts
    }
}

/// Follows one flow's sequence numbers.
public struct SequenceTracker: Sendable {
    /// Sequence numbers behind the highest seen that are still told apart (duplicate or late).
    public static let window = 1024

    /// What the sequence numbers said so far.
    public private(set) var counts = SequenceCounts()
    /// The sequence number expected next (the highest seen plus one); nil before the first.
    public private(set) var expected: UInt64?
    /// Bit i of word w: sequence `expected - 1 - (w * 64 + i)` was seen.
    private var seen = InlineArray<16, UInt64>(repeating: 0)

    public init() {}

    /// Takes one frame's sequence number.
    public mutating func record(_ sequence: UInt64) {
        counts.received &+= 1
        guard let next = expected else {
            start(at: sequence)
            return
        }
        let distance = Int64(bitPattern: sequence &- next)
        if distance >= 0 {
            // Ahead (or exactly next): the skipped ones are lost until they show up.
            counts.lost &+= UInt64(distance)
            shift(by: UInt64(distance) + 1)
            setBit(0)
            expected = sequence &+ 1
        } else if distance >= -Int64(Self.window) {
            let behind = Int(-distance - 1)  // 0: the highest seen
            if isSet(behind) {
                counts.duplicated &+= 1
            } else {
                setBit(behind)
                counts.reordered &+= 1
                if counts.lost > 0 { counts.lost &-= 1 }
            }
        } else {
            counts.restarts &+= 1
            start(at: sequence)
        }
    }

    private mutating func start(at sequence: UInt64) {
        for word in 0..<16 { seen[word] = 0 }
        setBit(0)
        expected = sequence &+ 1
    }

    /// Moves the window `count` places on: bits for older sequences fall off the end.
    private mutating func shift(by count: UInt64) {
        guard count < UInt64(Self.window) else {
            for word in 0..<16 { seen[word] = 0 }
            return
        }
        let words = Int(count / 64)
        let bits = Int(count % 64)
        for word in stride(from: 15, through: 0, by: -1) {
            let source = word - words
            var value: UInt64 = source >= 0 ? seen[source] << UInt64(bits) : 0
            if bits > 0, source - 1 >= 0 { value |= seen[source - 1] >> UInt64(64 - bits) }
            seen[word] = value
        }
    }

    private mutating func setBit(_ behind: Int) { seen[behind / 64] |= 1 << UInt64(behind % 64) }

    private func isSet(_ behind: Int) -> Bool { seen[behind / 64] & (1 << UInt64(behind % 64)) != 0 }
}
