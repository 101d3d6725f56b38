// One frame descriptor as the queue hands it out: the buffer it lives in (what goes back to
// the pool), the descriptor address the kernel gave (what a TX ring takes to send the same
// bytes without a copy) and its length. A frame of several buffers (multi-buffer) is its first
// buffer with the count and the whole length; the rest hang off it (see `FrameChain`).

import CShims
import PageFrag

/// A received frame, the application's until it calls `release` or passes it to `transmit`.
@frozen
public struct ReceivedFrame: Sendable {
    /// The fill fragment the frame landed in; this is what goes back to the pool.
    public var fragment: Fragment
    /// The descriptor address: the fragment's start with the data's offset inside it in the top
    /// 16 bits (unaligned-chunk mode). Send it as is to forward the frame without a copy.
    public var address: UInt64
    /// The frame's length in bytes (all of its buffers').
    public var length: UInt32
    /// How many buffers the frame spans: 1, or a chain's count (the first is this one; each
    /// links to the next through `FrameChain`).
    public var segments: UInt16

    /// A frame of `length` bytes in `fragment`, at the descriptor address `address`, spanning
    /// `segments` buffers.
    @inlinable
    public init(fragment: Fragment, address: UInt64, length: UInt32, segments: UInt16 = 1) {
        self.fragment = fragment
        self.address = address
        self.length = length
        self.segments = segments
    }

    /// True for a frame of more than one buffer.
    @inlinable
    public var isChain: Bool { segments > 1 }

    /// UMEM offset of the first byte of the frame.
    @inlinable
    public var dataOffset: UInt64 { xsk_umem__add_offset_to_addr(address) }
}
