// A frame as a job holds it: one buffer of the shared UMEM, either received on one of the
// job's ports or taken from a port's TX cache to build a frame in. Its bytes are the job's to
// read and write for as long as it holds the frame.
//
// Ownership rule: a `Frame` is non-copyable and every way of giving it up consumes it
// (`JobContext.release`, `transmit`, `forward`, `keep`), so using a frame after giving it up, or
// giving it up twice, does not compile. Swift cannot make a value *must* be consumed, so a
// frame that is simply dropped traps in debug builds (its deinit); in release builds it stays
// counted with the application (`QueueCensus.inApplication`) and comes home at the stop.

import PageFrag
import XSK

/// One frame buffer held by a job: received, or built for transmit.
@frozen
public struct Frame: ~Copyable {
    @usableFromInline var descriptor: ReceivedFrame
    @usableFromInline let data: UnsafeMutableRawPointer
    /// Bytes the buffer holds from the frame's first byte on. Derived when asked for, as is
    /// `headLength`: a job that never reads the bytes (drop) pays nothing per frame for them.
    @inlinable var capacity: Int {
        Int(truncatingIfNeeded: descriptor.fragment.offset &+ UInt64(descriptor.fragment.length) &- descriptor.dataOffset)
    }
    /// The first buffer's frame bytes: the whole frame unless it is a chain (then its link,
    /// at the buffer's fragment offset in front of the data, says).
    @inlinable var headLength: Int {
        guard descriptor.segments > 1 else { return Int(descriptor.length) }
        let link = data - Int(truncatingIfNeeded: descriptor.dataOffset &- descriptor.fragment.offset)
        return Int(link.loadUnaligned(as: ChainLink.self).length)
    }
    /// The port the frame arrived on (for a frame being built: whose TX cache it came from).
    public let port: Int
    /// Received (goes back to its port's fill source) or built (goes back to a TX cache).
    @usableFromInline let wasReceived: Bool

    @inlinable
    init(descriptor: ReceivedFrame, base: UnsafeMutableRawPointer, port: Int, wasReceived: Bool) {
        self.descriptor = descriptor
        data = base + Int(truncatingIfNeeded: descriptor.dataOffset)
        self.port = port
        self.wasReceived = wasReceived
    }

    deinit {
        assertionFailure("a Frame was dropped: give it back with release, transmit, forward or keep")
    }

    /// The frame's length in bytes, all of its buffers'. A job may shorten or lengthen a frame
    /// of one buffer (up to `bufferCapacity`) before it transmits it; a chain's length is fixed.
    @inlinable
    public var length: Int {
        get { Int(descriptor.length) }
        set {
            precondition(descriptor.segments <= 1, "a chain of \(descriptor.segments) buffers keeps its length")
            precondition(newValue >= 0 && newValue <= capacity, "length \(newValue) outside the buffer's 0...\(capacity)")
            descriptor.length = UInt32(truncatingIfNeeded: newValue)
        }
    }

    /// How many buffers the frame spans: 1, or more for a jumbo frame received on a
    /// multi-buffer socket (a chain). The byte accessors cover the first buffer, where the
    /// headers are; `copyBytes()` and `forEachBuffer` reach the whole frame.
    @inlinable public var bufferCount: Int { Int(descriptor.segments) }

    /// The bytes the byte accessors cover: the first buffer's (the whole frame unless it is a
    /// chain).
    @inlinable public var firstBufferLength: Int { headLength }

    /// The most bytes this frame's buffer can hold.
    @inlinable public var bufferCapacity: Int { capacity }

    /// The frame's bytes, read-only, for the duration of `body`.
    @inlinable
    public borrowing func withBytes<Result, Failure: Error>(_ body: (RawSpan) throws(Failure) -> Result) throws(Failure) -> Result {
        try body(RawSpan(_unsafeStart: UnsafeRawPointer(data), byteCount: headLength))
    }

    /// The frame's bytes, writable, for the duration of `body` (bounds-checked).
    @inlinable
    public mutating func withMutableBytes<Result, Failure: Error>(
        _ body: (inout MutableRawSpan) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        var span = MutableRawSpan(_unsafeStart: data, byteCount: headLength)
        return try body(&span)
    }

    /// The frame's bytes as an unchecked buffer, for the duration of `body`: for loops that
    /// want no bounds check per access. Do not let the pointer escape.
    @inlinable
    public mutating func withUnsafeMutableBytes<Result, Failure: Error>(
        _ body: (UnsafeMutableRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try body(UnsafeMutableRawBufferPointer(start: data, count: headLength))
    }

    /// Writes `source` into the frame from its first byte on, across its buffers when it is a
    /// chain: `source` may be no longer than the frame.
    @inlinable
    public mutating func copyIn(_ source: UnsafeRawBufferPointer) {
        precondition(source.count <= Int(descriptor.length), "\(source.count) bytes into a frame of \(descriptor.length)")
        guard descriptor.segments > 1 else {
            if let start = source.baseAddress { data.copyMemory(from: start, byteCount: source.count) }
            return
        }
        let base = data - Int(truncatingIfNeeded: descriptor.dataOffset)
        var copied = 0
        FrameChain.forEachBuffer(of: descriptor, base: base) { buffer in
            let count = min(Int(buffer.length), source.count - copied)
            guard count > 0, let start = source.baseAddress else { return }
            (base + Int(truncatingIfNeeded: buffer.dataOffset)).copyMemory(from: start + copied, byteCount: count)
            copied += count
        }
    }

    /// Copies the frame's bytes out, every buffer's (for keeping beyond the frame, or a test).
    public borrowing func copyBytes() -> [UInt8] {
        guard descriptor.segments > 1 else {
            return Array(UnsafeRawBufferPointer(start: UnsafeRawPointer(data), count: Int(descriptor.length)))
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(descriptor.length))
        forEachBuffer { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// Calls `body` with each buffer's bytes in order (one call for a frame of one buffer), for
    /// the duration of the call.
    @inlinable
    public borrowing func forEachBuffer(_ body: (UnsafeRawBufferPointer) -> Void) {
        guard descriptor.segments > 1 else {
            body(UnsafeRawBufferPointer(start: UnsafeRawPointer(data), count: Int(descriptor.length)))
            return
        }
        let base = UnsafeRawPointer(data - Int(truncatingIfNeeded: descriptor.dataOffset))
        FrameChain.forEachBuffer(of: descriptor, base: base) { buffer in
            body(UnsafeRawBufferPointer(start: base + Int(truncatingIfNeeded: buffer.dataOffset), count: Int(buffer.length)))
        }
    }

    /// Ends the frame without its deinit: the caller takes over its buffer.
    @inlinable
    consuming func take() -> (descriptor: ReceivedFrame, port: Int, wasReceived: Bool) {
        let taken = (descriptor, port, wasReceived)
        discard self
        return taken
    }
}

/// A frame a job keeps beyond the call that gave it (for reassembly, reordering, a delay
/// line): a plain value to store anywhere, given back later through `JobContext.release(_:)`
/// or `transmit(_:on:)`. The frame still counts as with the application until then. Giving
/// a kept frame back twice traps in debug builds (the pool's fragment tracker).
@frozen
public struct KeptFrame: Sendable, Hashable {
    @usableFromInline let address: UInt64
    @usableFromInline let fragmentOffset: UInt64
    @usableFromInline let fragmentLength: UInt32
    /// The frame's length in bytes.
    public let length: UInt32
    /// How many buffers it spans (more than 1: a chain).
    public let bufferCount: UInt16
    /// The port it arrived on (or whose TX cache it came from).
    public let port: Int
    @usableFromInline let wasReceived: Bool

    @inlinable
    init(_ descriptor: ReceivedFrame, port: Int, wasReceived: Bool) {
        address = descriptor.address
        fragmentOffset = descriptor.fragment.offset
        fragmentLength = descriptor.fragment.length
        length = descriptor.length
        bufferCount = descriptor.segments
        self.port = port
        self.wasReceived = wasReceived
    }

    @inlinable
    var descriptor: ReceivedFrame {
        ReceivedFrame(
            fragment: Fragment(offset: fragmentOffset, length: fragmentLength), address: address, length: length,
            segments: bufferCount)
    }
}
