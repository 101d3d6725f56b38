// A frame longer than one buffer, as multi-buffer AF_XDP carries it: several descriptors in a
// row, each but the last flagged XDP_PKT_CONTD. The queue hands the application one value for
// the whole frame (its first buffer, the buffer count and the whole length) and links the
// buffers through their own headroom, the way an mbuf chain links through each mbuf's header:
// every buffer but the last holds, at its fragment's first byte, its own length and the next
// buffer. No side table, nothing allocated, and a chain kept for later stays whole.
//
// The link lives in the bytes in front of the frame that the kernel leaves (its 256-byte XDP
// headroom on receive; a reserved prefix in a buffer built for transmit). The kernel neither
// reads nor writes them once the buffer is ours: received buffers are linked after the RX ring
// hands them over, and a TX descriptor's address starts past the link.

import CShims
import PageFrag

/// What one buffer of a chain says about the next: written in the buffer's own first bytes.
@frozen
public struct ChainLink: BitwiseCopyable {
    /// The next buffer's descriptor address.
    public var nextAddress: UInt64
    /// The next buffer's fill (or TX) fragment offset.
    public var nextFragmentOffset: UInt64
    /// The next buffer's fragment length.
    public var nextFragmentLength: UInt32
    /// This buffer's frame bytes.
    public var length: UInt32

    /// A link from a buffer of `length` frame bytes to the buffer at `nextAddress`.
    @inlinable
    public init(nextAddress: UInt64, nextFragmentOffset: UInt64, nextFragmentLength: UInt32, length: UInt32) {
        self.nextAddress = nextAddress
        self.nextFragmentOffset = nextFragmentOffset
        self.nextFragmentLength = nextFragmentLength
        self.length = length
    }

    /// The next buffer, with `length` as its frame bytes.
    @inlinable
    public func next(length: UInt32) -> ReceivedFrame {
        ReceivedFrame(
            fragment: Fragment(offset: nextFragmentOffset, length: nextFragmentLength), address: nextAddress,
            length: length)
    }
}

/// The rules and helpers of descriptor chains.
public enum FrameChain {
    /// The most buffers a received chain may have before it is discarded as malformed: more
    /// than a 64 KiB frame needs in the smallest buffers a multi-buffer queue posts.
    public static let receiveLimit = 48
    /// The most buffers a chain may have on a TX ring: the copy-mode kernel builds an skb of
    /// one linear part and at most `MAX_SKB_FRAGS` (17) fragments, and drops a longer chain.
    public static let transmitLimit = 18
    /// Bytes reserved in front of a built chain buffer's data for its link (a cache line).
    public static let linkSpace = 64
    /// The `options` flag of every descriptor but a chain's last.
    public static let continues = cshims_xdp_pkt_contd()

    /// Writes in `buffer` (not the chain's last) its own length and the buffer after it.
    @inlinable
    public static func link(_ buffer: ReceivedFrame, to next: ReceivedFrame, base: UnsafeMutableRawPointer) {
        let record = ChainLink(
            nextAddress: next.address, nextFragmentOffset: next.fragment.offset, nextFragmentLength: next.fragment.length,
            length: buffer.length)
        (base + Int(truncatingIfNeeded: buffer.fragment.offset)).storeBytes(of: record, as: ChainLink.self)
    }

    /// The link `buffer` (not the chain's last) holds.
    @inlinable
    public static func link(of buffer: ReceivedFrame, base: UnsafeRawPointer) -> ChainLink {
        (base + Int(truncatingIfNeeded: buffer.fragment.offset)).loadUnaligned(as: ChainLink.self)
    }

    /// Calls `body` with each buffer of `frame` in order, each with its own length: the frame
    /// itself when it is one buffer. Each buffer's link is read before `body` sees the buffer,
    /// so `body` may give it back.
    @inlinable
    public static func forEachBuffer(
        of frame: ReceivedFrame, base: UnsafeRawPointer, _ body: (ReceivedFrame) -> Void
    ) {
        guard frame.segments > 1 else {
            body(frame)
            return
        }
        var remaining = frame.length
        var buffer = frame
        buffer.segments = 1
        for _ in 1..<Int(frame.segments) {
            let record = link(of: buffer, base: base)
            buffer.length = record.length
            remaining &-= record.length
            body(buffer)
            buffer = record.next(length: 0)
        }
        buffer.length = remaining
        body(buffer)
    }

    /// The first buffer's frame bytes: where the headers are.
    @inlinable
    public static func headLength(of frame: ReceivedFrame, base: UnsafeRawPointer) -> Int {
        frame.segments > 1 ? Int(link(of: frame, base: base).length) : Int(frame.length)
    }
}
