// The drop job: gives every frame back at once. A sink for traffic, and the receive benchmark:
// it costs no more than the ring verbs themselves.

import XSKJobs

/// Gives every received frame back.
struct DropJob: PacketJob {
    @inlinable
    mutating func receive(_ frames: inout ReceivedBatch, context: inout JobContext) {
        while let frame = frames.next() { context.release(frame) }
    }
}
