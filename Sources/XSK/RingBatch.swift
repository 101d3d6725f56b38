// Slots of an AF_XDP ring claimed for one batch. The ring's base pointer and mask are read
// once, when the batch is made, so that the per-packet loop is a masked index into memory the
// kernel shares with us, with no call and no reload (Swift calling the C inline accessor per
// packet costs far more than the access itself).

import CShims

/// Slots of an AF_XDP ring claimed for one batch, indexed from 0.
///
/// The ring's base pointer and mask are read once, when the batch is made, so that the
/// per-packet loop is a masked index into memory the kernel shares, with no call and no reload.
@frozen
public struct RingBatch<Slot> {
    @usableFromInline let slots: UnsafeMutablePointer<Slot>
    @usableFromInline let mask: UInt32
    /// The ring index of the batch's first slot.
    public let start: UInt32
    /// How many slots the batch holds (possibly fewer than asked for, possibly none).
    public let count: Int

    @inlinable
    init(slots: UnsafeMutablePointer<Slot>, mask: UInt32, start: UInt32, count: Int) {
        self.slots = slots
        self.mask = mask
        self.start = start
        self.count = count
    }

    /// The slot at `index` (in `0..<count`) of the batch.
    @inlinable
    public subscript(index: Int) -> Slot {
        get {
            precondition(index >= 0 && index < count)
            return slots[Int((start &+ UInt32(truncatingIfNeeded: index)) & mask)]
        }
        nonmutating set {
            precondition(index >= 0 && index < count)
            slots[Int((start &+ UInt32(truncatingIfNeeded: index)) & mask)] = newValue
        }
    }
}

/// Addresses (fill and completion rings): UMEM offsets, 8 bytes a slot.
public typealias AddressBatch = RingBatch<UInt64>
/// Descriptors (RX and TX rings): address, length and options, 16 bytes a slot.
public typealias DescriptorBatch = RingBatch<xdp_desc>
