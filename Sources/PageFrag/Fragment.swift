// A fragment is an arbitrary-length, arbitrary-offset piece of a pool page, named by its
// offset in the pool's region (which is its AF_XDP UMEM address) and its length. Each
// fragment holds one reference on its page; freeing it gives that reference back.
//
// Ownership rule, stated once here: a fragment has exactly one holder at a time (a cache that
// just carved it, the fill ring, the kernel, the application, the TX ring, the completion
// ring), and only the holder may free it or hand it on. A fragment must never sit in two rings
// at once; the pool's fragment tracker (debug builds) traps on the double free that follows.

/// A piece of a pool page: its UMEM address and length.
@frozen
public struct Fragment: Hashable, Sendable, CustomStringConvertible {
    /// Offset of the fragment's first byte from the start of the pool's region: the UMEM
    /// address the kernel sees in fill and TX descriptors.
    public let offset: UInt64
    /// Length in bytes.
    public let length: UInt32

    /// The fragment of `length` bytes at `offset`.
    @inlinable
    public init(offset: UInt64, length: UInt32) {
        self.offset = offset
        self.length = length
    }

    /// Offset one past the fragment's last byte.
    @inlinable
    public var end: UInt64 { offset + UInt64(length) }

    /// The offset in hex and the length, for logs and reports.
    public var description: String { "Fragment(0x\(String(offset, radix: 16)), \(length) B)" }
}

/// One page of the pool: a naturally aligned block of `4 KiB << order` bytes whose single
/// reference count covers every fragment carved from it.
@frozen
public struct Page: Hashable, Sendable, CustomStringConvertible {
    /// Index of the page's first 4 KiB unit in the pool's page table (the head entry).
    public let index: Int
    /// `log2(size / 4 KiB)`.
    public let order: Int

    /// The page of `order` whose head unit is `index`.
    @inlinable
    public init(index: Int, order: Int) {
        self.index = index
        self.order = order
    }

    /// Offset of the page in the region (its UMEM address).
    @inlinable
    public var offset: UInt64 { UInt64(index) << UInt64(PagePool.unitShift) }

    /// Size in bytes.
    @inlinable
    public var size: Int { PagePool.unitSize << order }

    /// The page's index, offset, order and size, for logs and reports.
    public var description: String {
        "page \(index) (0x\(String(offset, radix: 16)), order \(order), \(size / 1024) KiB)"
    }
}
