// The two rings user space produces into: the fill ring (empty buffers for the kernel to
// receive into) and the TX ring (frames to send). Verbs as in libxdp: `reserve` claims free
// slots, the caller writes them, `submit` publishes them to the kernel with a release store.
//
// Cached indices: the producer keeps its own copy of the consumer index and reads the shared
// one (an acquire load, a cache miss when the kernel has moved it) only when its cached view
// says the ring is full. libxdp keeps `cached_cons` as the consumer index plus the ring size,
// so that `cached_cons - cached_prod` is directly the number of free slots.
//
// A ring is valid while the socket (or UMEM) that owns its storage lives, and is used by one
// thread: the queue's poll thread.

import CShims

/// A ring that user space produces into: the fill ring or the TX ring.
///
/// Its verbs are libxdp's: ``reserve(upTo:)`` claims free slots, the caller writes them, and
/// ``submit(_:count:)`` publishes them to the kernel. One thread uses a ring, while the socket or
/// UMEM that owns its storage lives.
public struct ProducerRing<Slot>: @unchecked Sendable {
    @usableFromInline let ring: UnsafeMutablePointer<xsk_ring_prod>

    init(_ ring: UnsafeMutablePointer<xsk_ring_prod>) { self.ring = ring }

    /// How many slots the ring has.
    public var size: Int { Int(ring.pointee.size) }

    /// Claims up to `count` free slots (fewer when the ring has fewer free). Unlike libxdp's
    /// `xsk_ring_prod__reserve`, which claims all or nothing, it claims what there is.
    @inlinable
    public func reserve(upTo count: Int) -> RingBatch<Slot> {
        let granted = xsk_prod_nb_free(ring, UInt32(truncatingIfNeeded: count))
        let taken = min(Int(granted), count)
        let start = ring.pointee.cached_prod
        ring.pointee.cached_prod = start &+ UInt32(truncatingIfNeeded: taken)
        return RingBatch(
            slots: ring.pointee.ring.assumingMemoryBound(to: Slot.self), mask: ring.pointee.mask,
            start: start, count: taken)
    }

    /// Free slots, up to `count` (refreshing the cached consumer index only when short). The
    /// corresponding C function is `xsk_prod_nb_free`.
    @inlinable
    public func freeSlots(upTo count: Int) -> Int {
        min(Int(xsk_prod_nb_free(ring, UInt32(truncatingIfNeeded: count))), count)
    }

    /// Publishes the first `count` slots of the batch (all of them by default) to the kernel.
    /// The corresponding C function is `xsk_ring_prod__submit`.
    @inlinable
    public func submit(_ batch: RingBatch<Slot>, count: Int? = nil) {
        let published = count ?? batch.count
        precondition(published <= batch.count)
        // Give back what was reserved but not written, then publish the rest.
        ring.pointee.cached_prod &-= UInt32(truncatingIfNeeded: batch.count - published)
        xsk_ring_prod__submit(ring, UInt32(truncatingIfNeeded: published))
    }

    /// Whether the kernel asked to be woken (need_wakeup) before it takes more from this ring.
    /// The corresponding C function is `xsk_ring_prod__needs_wakeup`.
    @inlinable
    public var needsWakeup: Bool { xsk_ring_prod__needs_wakeup(ring) != 0 }

    /// Slots the kernel has not consumed yet (a snapshot).
    public var pending: Int {
        Int(ring.pointee.cached_prod &- cshims_load_acquire_u32(ring.pointee.consumer))
    }
}

/// Empty buffers for the kernel to receive into.
public typealias FillRing = ProducerRing<UInt64>
/// Frames to send.
public typealias TxRing = ProducerRing<xdp_desc>
