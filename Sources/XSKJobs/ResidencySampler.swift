// Residency: how long a frame stays between its arrival at the XDP program and the completion
// of its transmit, for jobs that send what they receive (reflect, forward): the time the wait
// policy, the job and the TX path cost a frame, which no counter shows. Sampled: one frame in
// `every` (the first of a batch, once the count is reached) has its arrival stamp read
// (`ArrivalStamp`, written by the program) and its buffer's completion watched; the time it is
// reaped goes into a histogram. One sample at a time, so the work is one stamp read and one
// clock read per sample, and a compare per completion while a sample is out.
//
// A sampled frame that the job releases instead of sending (or that a full TX ring refuses)
// never completes: its watch is dropped at the second publication after it began (within
// ~200 ms), and residencies that long are not recorded.

import CShims
import XSK

@usableFromInline
struct ResidencySampler {
    /// One frame in this many is sampled; 0: off.
    @usableFromInline let every: Int
    @usableFromInline var countdown: Int
    /// The sample out: its arrival time, and publications since it began.
    @usableFromInline var arrival: UInt64 = 0
    @usableFromInline var pending = false
    @usableFromInline var publicationsPending = 0
    /// Residencies in nanoseconds.
    @usableFromInline var histogram = LatencyHistogram()

    @usableFromInline
    init(every: Int) {
        precondition(every >= 0, "a sampling interval of \(every) frames")
        self.every = every
        countdown = every
    }

    /// After a receive of `count` frames (at `frames`): samples the first when it is due.
    @inlinable
    mutating func received(
        _ frames: UnsafeMutablePointer<ReceivedFrame>, count: Int, base: UnsafeMutableRawPointer,
        _ ports: UnsafeMutablePointer<JobPort>, _ portCount: Int
    ) {
        guard every > 0, !pending else { return }
        countdown &-= count
        guard countdown <= 0 else { return }
        countdown = every
        let frame = frames[0]
        guard let stamp = ArrivalStamp.take(before: base + Int(truncatingIfNeeded: frame.dataOffset)) else { return }
        // Sent on whichever port the job chooses (a forwarder's other one): watched on all.
        let address = frame.fragment.offset
        for port in 0..<portCount { ports[port].queue.watchCompletion(of: address) }
        arrival = stamp
        pending = true
        publicationsPending = 0
    }

    /// After completions were reaped: records the sample if its buffer came back.
    @inlinable
    mutating func reaped(_ ports: UnsafeMutablePointer<JobPort>, _ portCount: Int) {
        for port in 0..<portCount where ports[port].queue.watchedCompletionSeen {
            let now = ProbeStamp.now()
            if now >= arrival { histogram.record(now &- arrival) }
            end(ports, portCount)
            return
        }
    }

    /// At a publication: a sample out since the one before is given up.
    @usableFromInline
    mutating func published(_ ports: UnsafeMutablePointer<JobPort>, _ portCount: Int) {
        guard pending else { return }
        publicationsPending += 1
        if publicationsPending >= 2 { end(ports, portCount) }
    }

    @usableFromInline
    mutating func end(_ ports: UnsafeMutablePointer<JobPort>, _ portCount: Int) {
        for port in 0..<portCount { ports[port].queue.watchCompletion(of: .max) }
        pending = false
    }
}
