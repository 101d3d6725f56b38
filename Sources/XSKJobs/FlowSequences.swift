// The sequence trackers of the flows one queue receives, in fixed memory: up to `capacity`
// flows, found by a linear search (a queue sees a handful: one per sending queue). Frames of
// flows beyond the capacity are counted, not tracked.

/// Loss, reordering and duplicates per flow, for the stamped frames a job receives.
public struct FlowSequences: Sendable {
    /// The most flows told apart.
    public static let capacity = 16

    private var flows = InlineArray<16, UInt32>(repeating: 0)
    private var trackers = InlineArray<16, SequenceTracker>(repeating: SequenceTracker())
    /// Flows tracked so far.
    public private(set) var flowCount = 0
    /// Stamped frames of flows beyond `capacity`: counted here only.
    public private(set) var untracked: UInt64 = 0

    /// No flow yet.
    public init() {}

    /// Takes one stamped frame.
    public mutating func record(_ stamp: ProbeStamp) {
        for index in 0..<flowCount where flows[index] == stamp.flow {
            trackers[index].record(stamp.sequence)
            return
        }
        guard flowCount < Self.capacity else {
            untracked &+= 1
            return
        }
        flows[flowCount] = stamp.flow
        trackers[flowCount].record(stamp.sequence)
        flowCount += 1
    }

    /// One flow's counts, by position (0..<flowCount).
    public func flow(at index: Int) -> (flow: UInt32, counts: SequenceCounts) {
        precondition(index >= 0 && index < flowCount, "flow \(index) of \(flowCount)")
        return (flows[index], trackers[index].counts)
    }

    /// Every flow's counts added up.
    public var total: SequenceCounts {
        var total = SequenceCounts()
        for index in 0..<flowCount { total.add(trackers[index].counts) }
        return total
    }
}
