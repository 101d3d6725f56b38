// The longest frame a queue takes, and how it follows the interface's MTU. Our XDP program
// leaves longer frames to the kernel (a frame must fit the fill buffer the kernel copies it
// into), so the limit and the fill buffer size always move together:
// - lowered at once: every buffer already posted is at least as large as the new limit needs;
// - raised only once every smaller buffer already posted has been used, since the kernel fills
//   buffers in the order they were posted and a longer frame would overrun an old one;
// - never past what the fill source can give (descriptor slots are fixed half pages).

/// A queue's frame limit and fill buffer size, from the MTU.
public struct FrameLimit: Sendable, Equatable {
    /// The MTU the sizes are for.
    public private(set) var mtu: Int
    /// Bytes of each fill buffer: XDP headroom + UMEM headroom + the longest frame.
    public private(set) var fragmentSize: Int
    /// The frame limit the XDP program applies now.
    public private(set) var frameLimit: Int
    /// A raise waiting until `afterReceived` frames have been received.
    public private(set) var pendingRaise: PendingRaise?

    /// A raise of the frame limit that waits for the smaller buffers posted before it.
    public struct PendingRaise: Sendable, Equatable {
        /// The raise applies once this many frames have been received.
        public var afterReceived: UInt64
        /// The frame limit it raises to.
        public var limit: Int
    }
    let headroom: Int
    let alignment: Int
    /// The largest fill buffer the fill source can give.
    let maximumFragmentSize: Int
    /// False when the fill buffers cannot grow or shrink (fixed-size slots).
    let resizable: Bool
    /// For a multi-buffer socket, the UMEM's chunk size: fill buffers of exactly this size take
    /// a frame of any length as a chain (the kernel copies a chunk's worth into each), so the
    /// limit is then the longest chain's. Nil: every frame must fit one buffer.
    let chainChunkSize: Int?

    /// The kernel leaves this much in front of every frame it copies into a buffer.
    public static let xdpHeadroom = 256

    /// The limit for `mtu`, with fill buffers that hold `headroom` bytes before each frame,
    /// start at multiples of `alignment` and are at most `maximumFragmentSize` bytes; fixed at
    /// that size when not `resizable` (descriptor slots). `chainChunkSize`, for a multi-buffer
    /// socket, is the UMEM's chunk size.
    public init(
        mtu: Int, headroom: Int, alignment: Int, maximumFragmentSize: Int, resizable: Bool, chainChunkSize: Int? = nil
    ) {
        self.mtu = mtu
        self.headroom = headroom
        self.alignment = alignment
        self.maximumFragmentSize = maximumFragmentSize
        self.resizable = resizable
        self.chainChunkSize = chainChunkSize
        fragmentSize = resizable
            ? Self.fragmentSize(mtu: mtu, headroom: headroom, alignment: alignment, chunkSize: maximumFragmentSize)
            : maximumFragmentSize
        frameLimit = Self.limit(fragmentSize: fragmentSize, headroom: headroom, chainChunkSize: chainChunkSize)
    }

    /// True when frames longer than one buffer arrive as chains (fill buffers of a whole chunk on
    /// a multi-buffer socket).
    public var takesChains: Bool { chainChunkSize == fragmentSize }

    /// The frame limit for fill buffers of `fragmentSize`: one buffer's room, or with chains
    /// (buffers of the whole chunk on a multi-buffer socket), the longest chain's.
    static func limit(fragmentSize: Int, headroom: Int, chainChunkSize: Int?) -> Int {
        let perBuffer = fragmentSize - xdpHeadroom - headroom
        return chainChunkSize == fragmentSize ? perBuffer * FrameChain.receiveLimit : perBuffer
    }

    /// The fill fragment size for a link MTU: room for the kernel's 256-byte XDP headroom, the
    /// UMEM headroom, and the longest frame (MTU + Ethernet header + one VLAN tag), rounded up
    /// to the alignment, and never more than the chunk the kernel assumes.
    public static func fragmentSize(mtu: Int, headroom: Int, alignment: Int, chunkSize: Int) -> Int {
        let needed = xdpHeadroom + headroom + mtu + 14 + 4
        let rounded = (needed + alignment - 1) / alignment * alignment
        return min(rounded, chunkSize)
    }

    /// What a change of MTU asks of the queue.
    public enum Change: Sendable, Equatable {
        /// Set the program's frame limit to this now (the buffer size changed with it).
        case limitNow(Int)
        /// Buffers grow from now on; the limit follows once the smaller ones are used.
        case raiseLater(Int)
        /// Nothing can change: the fill buffers are fixed (the limit stays, frames longer
        /// than it stay with the kernel).
        case fixed
    }

    /// Follows the MTU `current`; `fillPosted` is how many buffers were posted so far. Nil when
    /// nothing changed.
    public mutating func follow(mtu current: Int, fillPosted: UInt64) -> Change? {
        guard current != mtu else { return nil }
        mtu = current
        guard resizable else { return .fixed }
        let newSize = Self.fragmentSize(mtu: current, headroom: headroom, alignment: alignment, chunkSize: maximumFragmentSize)
        let newLimit = Self.limit(fragmentSize: newSize, headroom: headroom, chainChunkSize: chainChunkSize)
        fragmentSize = newSize
        if newLimit <= frameLimit {
            frameLimit = newLimit
            pendingRaise = nil
            return .limitNow(newLimit)
        }
        pendingRaise = PendingRaise(afterReceived: fillPosted, limit: newLimit)
        return .raiseLater(newLimit)
    }

    /// The pending raise, once `received` frames have arrived: every smaller buffer is used.
    @inlinable
    public func raiseIsDue(received: UInt64) -> Bool {
        guard let pendingRaise else { return false }
        return received >= pendingRaise.afterReceived
    }

    /// Takes the pending raise (returned: the new limit).
    public mutating func applyRaise() -> Int? {
        guard let pendingRaise else { return nil }
        self.pendingRaise = nil
        frameLimit = pendingRaise.limit
        return frameLimit
    }
}
