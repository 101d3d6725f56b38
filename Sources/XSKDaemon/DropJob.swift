// The drop job: gives every frame back at once. A sink for traffic, and the receive benchmark.
// With --follow-sequences, frames stamped by a generator (`ProbeStamp`) have their sequences
// followed per flow: loss, reordering and duplicates, published with the queue's counters.
// Off by default: reading every frame's bytes cost 0.69-0.81x of the receive rate where the
// poll thread is the bottleneck (P1 drop in BENCHMARKS.md); without it no byte is touched.

import XSKJobs

/// Gives every received frame back, following the sequences of stamped ones.
struct DropJob: PacketJob {
    let followSequences: Bool
    var measured = JobMeasurements()

    init(followSequences: Bool = false) { self.followSequences = followSequences }

    @inlinable
    mutating func receive(_ frames: inout ReceivedBatch, context: inout JobContext) {
        guard followSequences else {
            while let frame = frames.next() { context.release(frame) }
            return
        }
        while let frame = frames.next() {
            if let stamp = frame.withBytes({ ProbeStamp.read($0) }) { measured.sequences.record(stamp) }
            context.release(frame)
        }
    }

    var measurements: JobMeasurements { measured }
}
