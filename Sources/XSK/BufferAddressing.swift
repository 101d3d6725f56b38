// How a descriptor's address names a buffer, in the UMEM's two chunk modes:
// - unaligned: a buffer starts anywhere (a page fragment); the kernel keeps the start in the
//   low 48 bits and the data's offset from it in the high 16;
// - aligned: every buffer is one chunk at a multiple of the chunk size; the address is the
//   data's own offset in the UMEM, and its chunk is the buffer (the kernel's fast path: it
//   finds the buffer by shifting, validates fill addresses by masking).
// Both are decoded with the same two masks and a shift, so the receive and completion loops
// carry no branch on the mode.

import CShims

/// How descriptor addresses name buffers in a UMEM: the start of the buffer and the data's
/// offset in it, in unaligned or aligned chunk mode.
@frozen
public struct BufferAddressing: Sendable, Equatable {
    /// Aligned chunk mode: every buffer is one chunk at a multiple of `chunkSize`.
    public let aligned: Bool
    /// The UMEM's chunk size.
    public let chunkSize: UInt64
    @usableFromInline let startMask: UInt64
    @usableFromInline let offsetShift: UInt64
    @usableFromInline let offsetMask: UInt64

    /// The low 48 bits of an unaligned address: the buffer's start.
    @usableFromInline static let unalignedAddressMask: UInt64 = (1 << 48) - 1

    /// Addressing for a UMEM of `chunkSize`-byte chunks, `aligned` or not.
    public init(aligned: Bool, chunkSize: Int) {
        precondition(!aligned || (chunkSize > 0 && chunkSize & (chunkSize - 1) == 0), "aligned chunks are a power of two")
        self.aligned = aligned
        self.chunkSize = UInt64(chunkSize)
        if aligned {
            startMask = ~(UInt64(chunkSize) - 1) & Self.unalignedAddressMask
            offsetShift = 0
            offsetMask = UInt64(chunkSize) - 1
        } else {
            startMask = Self.unalignedAddressMask
            offsetShift = 48
            offsetMask = .max
        }
    }

    /// The addressing of `umem`.
    public init(_ umem: Umem) {
        self.init(aligned: !umem.configuration.unalignedChunks, chunkSize: Int(umem.configuration.chunkSize))
    }

    /// The start of the buffer `address` (an RX, TX or completion address) lies in.
    @inlinable
    public func start(of address: UInt64) -> UInt64 { address & startMask }

    /// How far into its buffer `address` points.
    @inlinable
    public func offset(of address: UInt64) -> UInt64 { (address >> offsetShift) & offsetMask }

    /// The descriptor address of the byte `offset` bytes into the buffer at `start`.
    @inlinable
    public func address(start: UInt64, offset: UInt64) -> UInt64 {
        aligned ? start &+ offset : offset << 48 | start
    }
}
