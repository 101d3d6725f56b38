// The two rings user space consumes from: the RX ring (received frames) and the completion
// ring (sent frames whose buffers the kernel gives back). Verbs as in libxdp: `peek` looks at
// up to N filled slots, `release` hands them back to the kernel (a release store after we have
// read them), `cancel` un-peeks.

import CShims

/// A ring that user space consumes from: the RX ring or a completion ring.
///
/// Its verbs are libxdp's: ``peek(upTo:)`` looks at filled slots, ``release(_:)`` hands them
/// back to the kernel once read, ``cancel(_:)`` un-peeks them. One thread uses a ring, while the
/// socket or UMEM that owns its storage lives.
public struct ConsumerRing<Slot>: @unchecked Sendable {
    @usableFromInline let ring: UnsafeMutablePointer<xsk_ring_cons>

    init(_ ring: UnsafeMutablePointer<xsk_ring_cons>) { self.ring = ring }

    /// How many slots the ring has.
    public var size: Int { Int(ring.pointee.size) }

    /// Up to `count` filled slots, oldest first. The corresponding C function is
    /// `xsk_ring_cons__peek`.
    @inlinable
    public func peek(upTo count: Int) -> RingBatch<Slot> {
        var start: UInt32 = 0
        let available = xsk_ring_cons__peek(ring, UInt32(truncatingIfNeeded: count), &start)
        return RingBatch(
            slots: ring.pointee.ring.assumingMemoryBound(to: Slot.self), mask: ring.pointee.mask,
            start: start, count: Int(available))
    }

    /// Hands the batch's slots back to the kernel, once they have been read. The corresponding C
    /// function is `xsk_ring_cons__release`.
    @inlinable
    public func release(_ batch: RingBatch<Slot>) {
        xsk_ring_cons__release(ring, UInt32(truncatingIfNeeded: batch.count))
    }

    /// Hands the batch's first `count` slots back to the kernel and un-peeks the rest, which
    /// the next peek returns again.
    @inlinable
    public func release(_ batch: RingBatch<Slot>, count: Int) {
        precondition(count >= 0 && count <= batch.count)
        if count < batch.count { xsk_ring_cons__cancel(ring, UInt32(truncatingIfNeeded: batch.count &- count)) }
        xsk_ring_cons__release(ring, UInt32(truncatingIfNeeded: count))
    }

    /// Un-peeks the batch: its slots stay filled, and the next peek returns them again. The
    /// corresponding C function is `xsk_ring_cons__cancel`.
    @inlinable
    public func cancel(_ batch: RingBatch<Slot>) {
        xsk_ring_cons__cancel(ring, UInt32(truncatingIfNeeded: batch.count))
    }
}

/// Received frames.
public typealias RxRing = ConsumerRing<xdp_desc>
/// Buffers of sent frames, given back.
public typealias CompletionRing = ConsumerRing<UInt64>
