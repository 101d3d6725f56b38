// What a job can do with frames, and nothing else: give a frame back, send it on its own port
// or another, keep it for later, build a new one. The context belongs to one poll thread and
// is lent to the job for each call; sends are staged and reach the TX rings as one batch per
// port when the job returns. No verb allocates, locks or makes a system call per frame.

import PageFrag
import XSK

/// The job's view of its ports during one call.
public struct JobContext: ~Copyable {
    @usableFromInline let ports: UnsafeMutablePointer<JobPort>
    /// How many ports the job has (1, or 2 for a forwarder).
    public let portCount: Int
    @usableFromInline let base: UnsafeMutableRawPointer
    /// The UMEM's chunk size: no frame built here may be longer.
    public let chunkSize: Int
    /// A wakeup the job asked for (a paced generator): the poll thread naps no longer.
    @usableFromInline var requestedWakeup: Duration?
    /// Set by `finish()`.
    public private(set) var isFinished = false
    /// The run's capture, if it has one: what the ports receive and send is staged for it.
    @usableFromInline var capture: CaptureProducer?

    @usableFromInline
    init(
        ports: UnsafeMutablePointer<JobPort>, portCount: Int, base: UnsafeMutableRawPointer, chunkSize: Int,
        capture: CaptureProducer? = nil
    ) {
        self.ports = ports
        self.portCount = portCount
        self.base = base
        self.chunkSize = chunkSize
        self.capture = capture
    }

    // MARK: Received frames

    /// Gives a frame back: a received frame to its port's fill source, a built one to its TX
    /// cache.
    @inlinable
    public mutating func release(_ frame: consuming Frame) {
        let (descriptor, port, wasReceived) = frame.take()
        giveBack(descriptor, port: port, wasReceived: wasReceived)
    }

    /// Sends a frame out of the port it arrived on (a reflector), or for a built frame, the
    /// port whose TX cache it came from. Its buffer is the TX ring's until the kernel completes
    /// it. If the ring cannot take it even after completions are reaped, it is given back and
    /// counted (`transmitRingFullDrops`).
    @inlinable
    public mutating func transmit(_ frame: consuming Frame) {
        let port = frame.port
        transmit(frame, on: port)
    }

    /// Sends a frame out of `port` (a forwarder), without a copy: every port shares one UMEM.
    @inlinable
    public mutating func transmit(_ frame: consuming Frame, on port: Int) {
        precondition(port >= 0 && port < portCount, "port \(port) outside 0..<\(portCount)")
        let (descriptor, origin, wasReceived) = frame.take()
        stage(descriptor, origin: wasReceived ? origin : -1, on: port)
    }

    /// Another name for `transmit(_:on:)`, for a frame received on one port and sent on another.
    @inlinable
    public mutating func forward(_ frame: consuming Frame, to port: Int) {
        transmit(frame, on: port)
    }

    /// Keeps a frame beyond this call: it stays the job's until given back through
    /// `release(_:)` or `transmit(_:on:)` with the returned value.
    @inlinable
    public mutating func keep(_ frame: consuming Frame) -> KeptFrame {
        let (descriptor, port, wasReceived) = frame.take()
        return KeptFrame(descriptor, port: port, wasReceived: wasReceived)
    }

    /// Gives back a frame kept earlier.
    @inlinable
    public mutating func release(_ kept: KeptFrame) {
        giveBack(kept.descriptor, port: kept.port, wasReceived: kept.wasReceived)
    }

    /// Sends a frame kept earlier out of `port`.
    @inlinable
    public mutating func transmit(_ kept: KeptFrame, on port: Int) {
        precondition(port >= 0 && port < portCount, "port \(port) outside 0..<\(portCount)")
        stage(kept.descriptor, origin: kept.wasReceived ? kept.port : -1, on: port)
    }

    /// The bytes of a kept frame (a chain's first buffer), for the duration of `body`.
    @inlinable
    public func withBytes<Result, Failure: Error>(
        of kept: KeptFrame, _ body: (RawSpan) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        let descriptor = kept.descriptor
        let start = UnsafeRawPointer(base + Int(truncatingIfNeeded: descriptor.dataOffset))
        let count = descriptor.segments > 1 ? FrameChain.headLength(of: descriptor, base: base) : Int(kept.length)
        return try body(RawSpan(_unsafeStart: start, byteCount: count))
    }

    // MARK: Built frames

    /// A buffer of `length` bytes from `port`'s TX cache to build a frame in, or nil when the
    /// UMEM has none free now (counted: `transmitAllocationFailures`). The frame's `length` is
    /// `length`; the bytes are not cleared. Checksums are the job's to fill in: nothing on the
    /// way computes them.
    ///
    /// Up to `chunkSize` bytes the frame is one buffer, its byte accessors cover all of it. A
    /// longer frame, on a multi-buffer port (`isMultiBuffer(port)`), is a chain of buffers of
    /// `chunkSize - FrameChain.linkSpace` bytes (the last one shorter), at most
    /// `FrameChain.transmitLimit` of them; the byte accessors cover its first buffer, and
    /// `Frame.copyIn` writes across all of them.
    @inlinable
    public mutating func makeFrame(length: Int, on port: Int = 0) -> Frame? {
        precondition(port >= 0 && port < portCount, "port \(port) outside 0..<\(portCount)")
        guard length <= chunkSize else { return makeChain(length: length, on: port) }
        precondition(length > 0, "a frame of \(length) bytes: a built frame has at least one")
        guard let fragment = ports[port].queue.allocateTransmitBuffer(length: length) else { return nil }
        let descriptor = ReceivedFrame(fragment: fragment, address: fragment.offset, length: UInt32(truncatingIfNeeded: length))
        return Frame(descriptor: descriptor, base: base, port: port, wasReceived: false)
    }

    /// The most bytes a frame built on `port` may have: one chunk, or on a multi-buffer port,
    /// the longest chain the kernel sends.
    public func maximumFrameLength(on port: Int = 0) -> Int {
        precondition(port >= 0 && port < portCount, "port \(port) outside 0..<\(portCount)")
        return isMultiBuffer(port) ? (chunkSize - FrameChain.linkSpace) * FrameChain.transmitLimit : chunkSize
    }

    /// Whether `port`'s socket is multi-buffer: it takes chains, received and built.
    @inlinable
    public func isMultiBuffer(_ port: Int = 0) -> Bool { ports[port].queue.isMultiBuffer }

    /// Buffers a built frame of `length` bytes takes: 1 up to a chunk, more as a chain.
    @inlinable
    public func buffers(forFrameOf length: Int) -> Int {
        length <= chunkSize ? 1 : (length + chunkSize - FrameChain.linkSpace - 1) / (chunkSize - FrameChain.linkSpace)
    }

    /// A chain of TX buffers for a frame longer than one chunk: each a whole chunk from the TX
    /// cache, its link in the first `FrameChain.linkSpace` bytes and the descriptor's address
    /// past them (in the offset bits of an unaligned-chunk address, so the completion names the
    /// fragment's start, as for every other buffer).
    @usableFromInline
    @inline(never)
    mutating func makeChain(length: Int, on port: Int) -> Frame? {
        precondition(
            isMultiBuffer(port),
            "a frame of \(length) bytes spans several buffers: port \(port)'s socket is single-buffer (at most \(chunkSize) bytes)")
        let count = buffers(forFrameOf: length)
        precondition(
            count <= FrameChain.transmitLimit,
            "a frame of \(length) bytes needs \(count) buffers; the kernel sends at most \(FrameChain.transmitLimit) (\(maximumFrameLength(on: port)) bytes)")
        let perBuffer = chunkSize - FrameChain.linkSpace
        var head: ReceivedFrame?
        var previous = ReceivedFrame(fragment: Fragment(offset: 0, length: 0), address: 0, length: 0)
        var remaining = length
        for allocated in 0..<count {
            guard let fragment = ports[port].queue.allocateTransmitBuffer(length: chunkSize) else {
                // The buffers so far are linked: give them back as the chain they make.
                if var partial = head {
                    partial.segments = UInt16(truncatingIfNeeded: allocated)
                    partial.length = UInt32(truncatingIfNeeded: length - remaining)
                    releaseBuilt(partial, port: port)
                }
                return nil
            }
            let piece = min(remaining, perBuffer)
            let buffer = ReceivedFrame(
                fragment: fragment, address: ports[port].queue.addressing.address(start: fragment.offset, offset: UInt64(FrameChain.linkSpace)),
                length: UInt32(truncatingIfNeeded: piece))
            if head == nil { head = buffer } else { FrameChain.link(previous, to: buffer, base: base) }
            previous = buffer
            remaining -= piece
        }
        var frame = head!
        frame.segments = UInt16(truncatingIfNeeded: count)
        frame.length = UInt32(truncatingIfNeeded: length)
        return Frame(descriptor: frame, base: base, port: port, wasReceived: false)
    }

    /// Gives a built frame's buffers (one, or a chain's) back to `port`'s TX cache.
    @inlinable
    mutating func releaseBuilt(_ descriptor: ReceivedFrame, port: Int) {
        guard descriptor.segments > 1 else {
            ports[port].queue.releaseTransmitBuffer(descriptor.fragment)
            return
        }
        FrameChain.forEachBuffer(of: descriptor, base: base) { ports[port].queue.releaseTransmitBuffer($0.fragment) }
    }

    /// Frames `port`'s TX ring can take now, counting what this call already staged: a
    /// generator builds no more than this, so that nothing it numbered is dropped.
    @inlinable
    public mutating func transmitSpace(on port: Int = 0) -> Int {
        precondition(port >= 0 && port < portCount, "port \(port) outside 0..<\(portCount)")
        let free = ports[port].queue.transmitSpace(upTo: ports[port].capacity)
        return max(0, free &- ports[port].stagedCount)
    }

    /// Asks the poll thread to come back within `delay` even if no frame arrives (a paced
    /// generator's next frame is due then). Holds for the current round only: ask again each
    /// round. An idle thread that would sleep naps for at most `delay` instead; with the
    /// adaptive wait, a thread polls without sleeping for up to ~200 µs first, so delays
    /// shorter than that keep its core busy.
    @inlinable
    public mutating func wake(after delay: Duration) {
        if let requested = requestedWakeup, requested <= delay { return }
        requestedWakeup = delay
    }

    /// Says the job has nothing more to do (a generator that sent its count). Frames already
    /// sent in this round still go out; `produce` is not called again, while `receive` still
    /// is for what arrives. `JobRunner.wait(timeout:)` returns `.finished` once every queue's
    /// job has finished; the queues keep running until `JobRunner.stop`.
    public mutating func finish() { isFinished = true }

    // MARK: Counters

    /// `port`'s counters so far.
    @inlinable
    public func statistics(of port: Int) -> XSKQueue.Statistics {
        precondition(port >= 0 && port < portCount, "port \(port) outside 0..<\(portCount)")
        return ports[port].queue.statistics
    }

    // MARK: The runner's part

    @inlinable
    mutating func giveBack(_ descriptor: ReceivedFrame, port: Int, wasReceived: Bool) {
        if wasReceived {
            ports[port].queue.release(descriptor)
        } else {
            releaseBuilt(descriptor, port: port)
        }
    }

    @inlinable
    mutating func stage(_ descriptor: ReceivedFrame, origin: Int, on port: Int) {
        if ports[port].stagedCount == ports[port].capacity { flush(port) }
        let index = ports[port].stagedCount
        ports[port].staged[index] = descriptor
        ports[port].origins[index] = Int8(truncatingIfNeeded: origin)
        ports[port].stagedCount = index &+ 1
    }

    /// Puts `port`'s staged frames on its TX ring: reaping completions while the ring is full,
    /// giving back (and counting) what still does not fit. Received frames that were queued
    /// leave their port's application count.
    @inlinable
    mutating func flush(_ port: Int) {
        let count = ports[port].stagedCount
        guard count > 0 else { return }
        let staged = ports[port].staged
        let origins = ports[port].origins
        var sent = 0
        while sent < count {
            let queued = ports[port].queue.transmit(UnsafeBufferPointer(start: staged + sent, count: count &- sent))
            if queued == 0, ports[port].queue.reapCompletions() == 0 { break }
            sent &+= queued
        }
        // What the TX ring took, as it will leave (the capture copies before the kernel can
        // complete and the buffers be reused: they are ours until the completion is reaped).
        if sent > 0, capture?.outbound ?? false {
            capture!.record(UnsafePointer(staged), count: sent, port: port, base: base, direction: .outbound)
        }
        // One count per origin port; almost always a single run of the same origin.
        var index = 0
        while index < sent {
            let origin = Int(origins[index])
            var run = 1
            while index &+ run < sent, origins[index &+ run] == origins[index] { run &+= 1 }
            if origin >= 0 { ports[origin].queue.forwarded(run) }
            index &+= run
        }
        if sent < count {
            for dropped in sent..<count {
                let origin = Int(origins[dropped])
                giveBack(staged[dropped], port: origin >= 0 ? origin : port, wasReceived: origin >= 0)
            }
            ports[port].queue.transmitRingWasFull(dropping: count &- sent)
        }
        ports[port].stagedCount = 0
    }

    @inlinable
    mutating func flushAll() {
        for port in 0..<portCount where ports[port].stagedCount > 0 { flush(port) }
    }
}
