// The two rings user space consumes from: the RX ring (received frames) and the completion
// ring (sent frames whose buffers the kernel gives back). Verbs as in libxdp: `peek` looks at
// up to N filled slots, `release` hands them back to the kernel (a release store after we have
// read them), `cancel` un-peeks.

import CShims

public struct ConsumerRing<Slot>: @unchecked Sendable {
    @usableFromInline let ring: UnsafeMutablePointer<xsk_ring_cons>

    init(_ ring: UnsafeMutablePointer<xsk_ring_cons>) { self.ring = ring }

    public var size: Int { Int(ring.pointee.size) }

    /// Up to `count` filled slots, oldest first.
    @inlinable
    public func peek(upTo count: Int) -> RingBatch<Slot> {
        var start: UInt32 = 0
        let available = xsk_ring_cons__peek(ring, UInt32(truncatingIfNeeded: count), &start)
        return RingBatch(
            slots: ring.pointee.ring.assumingMemoryBound(to: Slot.self), mask: ring.pointee.mask,
            start: start, count: Int(available))
    }

    @inlinable
    public func release(_ batch: RingBatch<Slot>) {
        xsk_ring_cons__release(ring, UInt32(truncatingIfNeeded: batch.count))
    }

    @inlinable
    public func cancel(_ batch: RingBatch<Slot>) {
        xsk_ring_cons__cancel(ring, UInt32(truncatingIfNeeded: batch.count))
    }
}

/// Received frames.
public typealias RxRing = ConsumerRing<xdp_desc>
/// Buffers of sent frames, given back.
public typealias CompletionRing = ConsumerRing<UInt64>
