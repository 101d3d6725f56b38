// One batch of received frames, as the poll loop hands it to a job: the frames come out one at
// a time with `next()`, each a `Frame` the job must give up. Frames the job does not take out
// are released by the runner when `receive` returns, so a job that only inspects headers
// can stop early.

import XSK

/// The frames of one receive on one port.
public struct ReceivedBatch: ~Copyable {
    @usableFromInline let frames: UnsafeMutablePointer<ReceivedFrame>
    @usableFromInline let base: UnsafeMutableRawPointer
    /// How many frames the batch holds.
    public let count: Int
    /// The port they arrived on.
    public let port: Int
    @usableFromInline var nextIndex = 0

    @inlinable
    init(frames: UnsafeMutablePointer<ReceivedFrame>, count: Int, base: UnsafeMutableRawPointer, port: Int) {
        self.frames = frames
        self.count = count
        self.base = base
        self.port = port
    }

    /// Frames not taken out yet.
    @inlinable public var remaining: Int { count &- nextIndex }

    /// The next frame, or nil at the end of the batch.
    @inlinable
    public mutating func next() -> Frame? {
        guard nextIndex < count else { return nil }
        let descriptor = frames[nextIndex]
        nextIndex &+= 1
        return Frame(descriptor: descriptor, base: base, port: port, wasReceived: true)
    }

    /// The runner's part once the job returns: what it left goes back.
    @inlinable
    mutating func releaseRemaining(_ queue: inout XSKQueue) {
        while nextIndex < count {
            queue.release(frames[nextIndex])
            nextIndex &+= 1
        }
    }
}
