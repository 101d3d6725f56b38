// The two rings user space consumes from: the RX ring (received frames) and the completion
// ring (sent frames whose buffers the kernel gives back). Verbs as in libxdp: `peek` looks at
// up to N filled slots, `release` hands them back to the kernel (a release store after we have
// read them), `cancel` un-peeks.

import CShims

public struct RxRing: @unchecked Sendable {
    @usableFromInline let ring: UnsafeMutablePointer<xsk_ring_cons>

    init(_ ring: UnsafeMutablePointer<xsk_ring_cons>) { self.ring = ring }

    public var size: Int { Int(ring.pointee.size) }

    /// Up to `count` received descriptors, oldest first.
    @inlinable
    public func peek(upTo count: Int) -> DescriptorBatch {
        var start: UInt32 = 0
        let available = xsk_ring_cons__peek(ring, UInt32(truncatingIfNeeded: count), &start)
        return DescriptorBatch(
            slots: ring.pointee.ring.assumingMemoryBound(to: xdp_desc.self), mask: ring.pointee.mask,
            start: start, count: Int(available))
    }

    @inlinable
    public func release(_ batch: DescriptorBatch) {
        xsk_ring_cons__release(ring, UInt32(truncatingIfNeeded: batch.count))
    }

    @inlinable
    public func cancel(_ batch: DescriptorBatch) {
        xsk_ring_cons__cancel(ring, UInt32(truncatingIfNeeded: batch.count))
    }
}

public struct CompletionRing: @unchecked Sendable {
    @usableFromInline let ring: UnsafeMutablePointer<xsk_ring_cons>

    init(_ ring: UnsafeMutablePointer<xsk_ring_cons>) { self.ring = ring }

    public var size: Int { Int(ring.pointee.size) }

    @inlinable
    public func peek(upTo count: Int) -> AddressBatch {
        var start: UInt32 = 0
        let available = xsk_ring_cons__peek(ring, UInt32(truncatingIfNeeded: count), &start)
        return AddressBatch(
            slots: ring.pointee.ring.assumingMemoryBound(to: UInt64.self), mask: ring.pointee.mask,
            start: start, count: Int(available))
    }

    @inlinable
    public func release(_ batch: AddressBatch) {
        xsk_ring_cons__release(ring, UInt32(truncatingIfNeeded: batch.count))
    }

    @inlinable
    public func cancel(_ batch: AddressBatch) {
        xsk_ring_cons__cancel(ring, UInt32(truncatingIfNeeded: batch.count))
    }
}
