// Loss, reordering and duplicates from the sequence numbers of one flow, in fixed memory: the
// highest sequence seen and a window of the 1024 up to it, one bit each. A frame ahead of the
// next expected counts the gap as lost; a frame behind it, inside the window, is either a
// duplicate (its bit is set) or a late one (reordered, and no longer lost). Sequence numbers
// are compared by their wrapping distance, so a counter that wraps is followed across the
// wrap. A frame further behind than the window is taken as the sender starting again (a
// restart): counted, and followed from there.

/// What one flow's sequence numbers say.
public struct SequenceCounts: Sendable, Equatable, CustomStringConvertible {
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

    /// Nothing seen yet.
    public init() {}

    /// Under the names the stats and the metrics give these counts.
    public var description: String {
        "sequence_received_total \(received), sequence_missing \(lost), sequence_reordered_total \(reordered), "
            + "sequence_duplicated_total \(duplicated), sequence_restarts_total \(restarts)"
    }

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
    /// Bit `sequence % window`: that sequence, one of the last `window`, was seen. A ring:
    /// moving on by one frame clears one bit and sets one, whatever the window's size.
    private var seen = InlineArray<16, UInt64>(repeating: 0)

    /// Nothing seen yet.
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
            // Ahead (or exactly next): the skipped ones are lost until they show up, and their
            // places in the ring (last used a window ago) are cleared.
            counts.lost &+= UInt64(distance)
            if distance >= Int64(Self.window) {
                for word in 0..<16 { seen[word] = 0 }
            } else {
                var skipped = next
                while skipped != sequence {
                    clear(skipped)
                    skipped &+= 1
                }
            }
            set(sequence)
            expected = sequence &+ 1
        } else if distance >= -Int64(Self.window) {
            // Behind, one of the last `window` (the highest seen included): its bit says.
            if isSet(sequence) {
                counts.duplicated &+= 1
            } else {
                set(sequence)
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
        set(sequence)
        expected = sequence &+ 1
    }

    private static func position(_ sequence: UInt64) -> (word: Int, bit: UInt64) {
        let index = Int(truncatingIfNeeded: sequence % UInt64(window))
        return (index >> 6, UInt64(index & 63))
    }

    private mutating func set(_ sequence: UInt64) {
        let (word, bit) = Self.position(sequence)
        seen[word] |= 1 << bit
    }

    private mutating func clear(_ sequence: UInt64) {
        let (word, bit) = Self.position(sequence)
        seen[word] &= ~(1 << bit)
    }

    private func isSet(_ sequence: UInt64) -> Bool {
        let (word, bit) = Self.position(sequence)
        return seen[word] & (1 << bit) != 0
    }
}
