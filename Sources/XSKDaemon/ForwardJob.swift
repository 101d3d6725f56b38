// The forward job: a two-port L2 forwarder. A frame received on one port leaves by the other
// from the same UMEM buffer (both ports' sockets share it), in both directions; one thread
// owns both ports, so each TX ring has one producer and needs no lock.

import XSKJobs

/// Sends every frame out of the other port.
struct ForwardJob: PacketJob {
    @inlinable
    mutating func receive(_ frames: inout ReceivedBatch, context: inout JobContext) {
        let other = 1 &- frames.port
        while let frame = frames.next() { context.forward(frame, to: other) }
    }
}
