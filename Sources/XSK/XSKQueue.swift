// One queue's data path, kept the way a NIC driver keeps its RX/TX rings: the AF_XDP socket
// and its four rings, with the ring verbs the poll thread calls per batch (receive, release,
// transmit, reap completions). Around it, each in its own file: where fill buffers come from
// (`FillSource`), which buffers the kernel holds (`KernelLedger`), how long a frame may be
// (`FrameLimit`), the counters (`QueueStatistics`), the census, the wakeups, and the stop.
//
// Single owner: the queue's poll thread holds it as a local and calls its mutating methods; no
// lock, no atomic, no allocation per packet (a fragment the application frees on this thread
// goes back to its cache's bias; the pool's atomic free is for fragments of pages the cache
// has let go, and for other threads).

import CShims
import Logging
import PageFrag
import SystemCalls

/// One queue's data path: an AF_XDP socket's four rings, where its fill buffers come from,
/// its TX cache, and the ledger of the buffers the kernel holds.
///
/// The queue's poll thread owns it and calls its mutating methods per batch; they take no lock,
/// no atomic and no allocation per packet. ``stop(programs:transmitTimeout:)`` ends it and gives
/// back every buffer it and the kernel hold.
public struct XSKQueue: ~Copyable {
    /// How a queue sizes its batches and fill buffers, and where the fill buffers come from.
    public struct Configuration: Sendable {
        /// Descriptors per ring operation.
        public var batchSize = 64
        /// Fill fragments start at multiples of this (a cache line by default).
        public var fragmentAlignment = 64
        /// The link MTU to size fill fragments for; nil reads it from the interface (and
        /// `refreshMTU` follows it).
        public var mtu: Int?
        /// How the fill ring gets its buffers.
        public var fillStrategy: FillStrategy = .fragmentCache
        /// The defaults: batches of 64, fill fragments on 64-byte boundaries sized from the
        /// interface's MTU, from a fragment cache.
        public init() {}
    }

    /// How the fill ring gets its buffers: the module's `FillStrategy`, under the queue's name.
    public typealias FillStrategy = XSK.FillStrategy

    /// The socket whose rings the queue works.
    public let socket: XSKSocket
    /// The page pool behind the socket's UMEM.
    public let pool: PagePool
    /// What the queue was set up with.
    public let configuration: Configuration
    let programs: XDPPrograms?
    @usableFromInline var fill: FillSource
    @usableFromInline var transmitCache: PageFragCache
    @usableFromInline let ledger: KernelLedger
    /// The frame limit and fill buffer size, following the MTU.
    public private(set) var limit: FrameLimit
    /// Counters kept as drivers keep them, in plain memory on the poll thread.
    @inlinable public var statistics: Statistics { counters }
    @usableFromInline var counters = Statistics()
    /// How descriptor addresses name buffers in this UMEM (aligned or unaligned chunks).
    public let addressing: BufferAddressing
    /// The socket's `isMultiBuffer`, kept in the queue's own memory for the per-batch checks.
    @usableFromInline let multiBuffer: Bool
    /// Whether the queue's socket is multi-buffer: frames may be chains, received and sent.
    @inlinable public var isMultiBuffer: Bool { multiBuffer }
    /// A chain longer than any the queue takes is being thrown away, up to its last buffer.
    @usableFromInline var discardingChain = false
    /// The buffer whose completion is watched for (a residency sample); `.max` for none.
    @usableFromInline var watchedCompletion = UInt64.max
    /// The watched buffer's completion was reaped since the watch began.
    public internal(set) var watchedCompletionSeen = false
    let logger: Logger

    /// Bytes of each fill fragment: headroom + 256 + the longest frame the MTU allows.
    public var fragmentSize: Int { limit.fragmentSize }
    /// The MTU the fill buffers are sized for now.
    public var mtu: Int { limit.mtu }
    /// The frame limit the XDP program applies to this queue.
    public var frameLimit: Int { limit.frameLimit }

    /// Sets up the buffers of `socket`'s queue and fills its fill ring. `programs`, when given,
    /// receives the queue's frame limit.
    public init(socket: XSKSocket, programs: XDPPrograms?, configuration: Configuration = .init(), logger: Logger) throws(XSKError) {
        precondition(!socket.sharesQueueRings, "a socket that shares its queue's rings has no fill ring to manage")
        let alignment = configuration.fragmentAlignment
        precondition(alignment > 0 && alignment & (alignment - 1) == 0 && alignment <= 4096)
        // Everything that can fail comes first: nothing non-copyable is set up yet.
        let linkMTU: Int
        if let mtu = configuration.mtu { linkMTU = mtu } else { linkMTU = try socket.linkMTU() }
        let strategy = configuration.fillStrategy
        let addressing = BufferAddressing(socket.umem)
        let chunkSize = Int(socket.umem.configuration.chunkSize)
        // Aligned chunks: every buffer is exactly one chunk (the kernel finds a buffer from any
        // address in it), so slots' half pages work only when a half page is a chunk.
        let largestBuffer = strategy.maximumFragmentSize(chunkSize: chunkSize)
        if addressing.aligned, largestBuffer != chunkSize {
            throw .invalidArgument(
                "\(strategy.rawValue) gives \(largestBuffer)-byte buffers; aligned \(chunkSize)-byte chunks need buffers of one chunk (use 2048-byte chunks, unaligned chunks or the fragment cache)")
        }
        let limit = FrameLimit(
            mtu: linkMTU, headroom: Int(socket.umem.configuration.headroom), alignment: alignment,
            maximumFragmentSize: largestBuffer,
            resizable: strategy == .fragmentCache && !addressing.aligned,
            chainChunkSize: socket.isMultiBuffer ? chunkSize : nil)
        try programs?.setFrameLimit(UInt32(limit.frameLimit), queue: socket.queue)
        self.limit = limit
        self.addressing = addressing
        self.socket = socket
        self.multiBuffer = socket.isMultiBuffer
        self.pool = socket.umem.pool
        self.configuration = configuration
        self.programs = programs
        var logger = logger
        logger[metadataKey: "interface"] = "\(socket.interface)"
        logger[metadataKey: "queue"] = "\(socket.queue)"
        self.logger = logger
        // Copy mode: no more fill buffers than the RX ring holds (see FillSource.init).
        let fillLimit = socket.boundMode == .zeroCopy ? socket.fill.size : min(socket.fill.size, socket.rx.size)
        fill = FillSource(
            strategy: strategy, pool: pool, fillRingSize: socket.fill.size, limit: fillLimit, batchSize: configuration.batchSize,
            fragmentSize: limit.fragmentSize, alignment: addressing.aligned ? chunkSize : alignment,
            recyclesWholeChunks: addressing.aligned)
        transmitCache = PageFragCache(pool: pool)
        ledger = KernelLedger(regionSize: pool.size, granularity: min(alignment, 64))
        fill.start(socket.fill, ledger: ledger, counters: &counters)
        logger.info(
            "queue ready",
            metadata: [
                "mtu": "\(linkMTU)", "fragment": "\(limit.fragmentSize)", "frameLimit": "\(limit.frameLimit)",
                "posted": "\(counters.fillPosted)", "fillLimit": "\(fillLimit)", "chains": "\(limit.takesChains)",
                "chunks": "\(addressing.aligned ? "aligned" : "unaligned")",
            ])
    }

    /// The fill fragment size for a link MTU (see `FrameLimit.fragmentSize`).
    public static func fragmentSize(mtu: Int, headroom: Int, alignment: Int, chunkSize: Int) -> Int {
        FrameLimit.fragmentSize(mtu: mtu, headroom: headroom, alignment: alignment, chunkSize: chunkSize)
    }

    // MARK: Receive

    /// Tops the fill ring up (fresh fragments, or the slots' replacements); returns how many
    /// were posted.
    @discardableResult
    public mutating func refill() -> Int {
        fill.replenish(socket.fill, ledger: ledger, counters: &counters)
    }

    /// Takes up to `frames.count` received frames (each is then the application's), and
    /// refills the fill ring for them. Returns how many were taken. On a multi-buffer socket a
    /// frame may be a chain (`ReceivedFrame.segments`): only whole chains are taken, and one
    /// the batch ends inside waits in the RX ring for the next receive.
    public mutating func receive(into frames: UnsafeMutableBufferPointer<ReceivedFrame>) -> Int {
        let rx = socket.rx
        let wanted = min(frames.count, configuration.batchSize)
        var batch = rx.peek(upTo: wanted)
        if batch.count == 0 { return 0 }
        var widened = false
        var taken = 0
        var bytes: UInt64 = 0
        var index = 0
        let fragmentSize = UInt64(limit.fragmentSize)
        let continues = FrameChain.continues
        if discardingChain { index = discardChainRest(batch) }
        while index < batch.count, taken < wanted {
            let descriptor = batch[index]
            if descriptor.options & continues != 0 {
                guard let (frame, next) = takeChain(batch, from: index) else {
                    // A chain that starts the batch and runs past the count asked for: look
                    // again with room for the longest chain. Only then, so that a batch of
                    // single buffers never asks the ring for more than it takes.
                    guard index == 0, !widened, batch.count == wanted else { break }
                    rx.cancel(batch)
                    batch = rx.peek(upTo: wanted &+ FrameChain.receiveLimit)
                    widened = true
                    continue
                }
                index = next
                if let frame {
                    frames[taken] = frame
                    bytes &+= UInt64(frame.length)
                    taken &+= 1
                }
                continue
            }
            index &+= 1
            let start = addressing.start(of: descriptor.addr)
            // Only what this queue gave the kernel may come back; anything else is skipped.
            guard ledger.takeReceived(start) else {
                counters.invalidAddresses &+= 1
                continue
            }
            let fragment = fill.received(at: start)
            // Our buffer, but a length past its end: never handed to the job; the buffer
            // itself goes back.
            guard addressing.offset(of: descriptor.addr) &+ UInt64(descriptor.len) <= fragmentSize else {
                counters.invalidLengths &+= 1
                fill.release(fragment)
                continue
            }
            frames[taken] = ReceivedFrame(fragment: fragment, address: descriptor.addr, length: descriptor.len)
            bytes &+= UInt64(descriptor.len)
            taken &+= 1
        }
        // What was looked at goes back to the kernel; the rest (an unfinished chain, frames
        // past `wanted`) stays for the next receive.
        rx.release(batch, count: index)
        guard index > 0 else { return 0 }
        if taken > 0 { counters.receiveBatches &+= 1 }
        counters.rxPackets &+= UInt64(truncatingIfNeeded: taken)
        counters.rxBytes &+= bytes
        // Buffers, not frames: the raise waits for the buffers posted before it, and a chain
        // used several.
        if limit.raiseIsDue(received: counters.rxBuffers) { applyRaise() }
        fill.replenish(socket.fill, ledger: ledger, counters: &counters)
        return taken
    }

    /// Takes the chain that starts at `start` of `batch`: nil when the batch ends inside it
    /// (it waits in the ring); otherwise the index after its last descriptor, and the frame,
    /// or nil for a chain that was discarded (counted; its buffers went back).
    @inline(never)
    @usableFromInline
    mutating func takeChain(_ batch: DescriptorBatch, from start: Int) -> (ReceivedFrame?, Int)? {
        let continues = FrameChain.continues
        var end = start
        while end < batch.count, batch[end].options & continues != 0 { end &+= 1 }
        guard end < batch.count else {
            // Longer than any chain the kernel makes, or the ring holds only part of it: a
            // batch that starts with it and is full cannot be waited out.
            guard start == 0, batch.count - start > FrameChain.receiveLimit else { return nil }
            counters.chainsDiscarded &+= 1
            takeDiscarded(batch, from: start, to: batch.count)
            discardingChain = true
            return (nil, batch.count)
        }
        let buffers = end &- start &+ 1
        var valid = buffers <= FrameChain.receiveLimit
        let fragmentSize = UInt64(limit.fragmentSize)
        let base = pool.base
        var head: ReceivedFrame?
        var previous = ReceivedFrame(fragment: Fragment(offset: 0, length: 0), address: 0, length: 0)
        var linked = 0
        var total: UInt64 = 0
        for index in start...end {
            let descriptor = batch[index]
            let address = addressing.start(of: descriptor.addr)
            guard ledger.takeReceived(address) else {
                counters.invalidAddresses &+= 1
                valid = false
                continue
            }
            let fragment = fill.received(at: address)
            guard addressing.offset(of: descriptor.addr) &+ UInt64(descriptor.len) <= fragmentSize else {
                counters.invalidLengths &+= 1
                fill.release(fragment)
                valid = false
                continue
            }
            let buffer = ReceivedFrame(fragment: fragment, address: descriptor.addr, length: descriptor.len)
            if head == nil { head = buffer } else { FrameChain.link(previous, to: buffer, base: base) }
            previous = buffer
            linked &+= 1
            total &+= UInt64(descriptor.len)
        }
        guard var frame = head else {
            counters.chainsDiscarded &+= 1
            return (nil, end &+ 1)
        }
        frame.segments = UInt16(truncatingIfNeeded: linked)
        frame.length = UInt32(truncatingIfNeeded: total)
        guard valid, total <= UInt64(UInt32.max) else {
            counters.chainsDiscarded &+= 1
            if linked > 1 {
                FrameChain.forEachBuffer(of: frame, base: base) { fill.release($0.fragment) }
            } else {
                fill.release(frame.fragment)
            }
            return (nil, end &+ 1)
        }
        counters.rxChains &+= 1
        counters.rxChainBuffers &+= UInt64(truncatingIfNeeded: linked)
        return (frame, end &+ 1)
    }

    /// Gives back the buffers of descriptors `start..<end` of a chain being discarded.
    mutating func takeDiscarded(_ batch: DescriptorBatch, from start: Int, to end: Int) {
        for index in start..<end {
            let address = addressing.start(of: batch[index].addr)
            if ledger.takeReceived(address) { fill.release(fill.received(at: address)) } else { counters.invalidAddresses &+= 1 }
        }
    }

    /// The rest of a chain too long to take, at the start of a new batch: its buffers go back
    /// up to and including its last descriptor. Returns where the next frame starts.
    mutating func discardChainRest(_ batch: DescriptorBatch) -> Int {
        var end = 0
        while end < batch.count, batch[end].options & FrameChain.continues != 0 { end &+= 1 }
        if end < batch.count {
            end &+= 1
            discardingChain = false
        }
        takeDiscarded(batch, from: 0, to: end)
        return end
    }

    /// Gives a received frame back; on this thread, its reference returns to the fill cache's
    /// (or its slot's) bias without an atomic when its page is still that holder's. A chain
    /// goes back whole.
    @inlinable
    public mutating func release(_ frame: ReceivedFrame) {
        if frame.segments > 1 {
            releaseChain(frame)
        } else {
            fill.release(frame.fragment)
        }
        counters.released &+= 1
    }

    @inline(never)
    @usableFromInline
    mutating func releaseChain(_ frame: ReceivedFrame) {
        FrameChain.forEachBuffer(of: frame, base: pool.base) { fill.release($0.fragment) }
    }

    // MARK: Transmit

    /// A buffer for a frame the application builds, from the queue's TX cache.
    @inlinable
    public mutating func allocateTransmitBuffer(length: Int) -> Fragment? {
        // Aligned chunks: a whole chunk, so that the completion's address finds the buffer.
        let size = addressing.aligned ? Int(truncatingIfNeeded: addressing.chunkSize) : length
        precondition(length <= size, "a TX buffer of \(length) bytes is longer than a \(size)-byte aligned chunk")
        let alignment = addressing.aligned ? size : configuration.fragmentAlignment
        guard let fragment = transmitCache.alloc(size: size, alignment: alignment) else {
            counters.transmitAllocationFailures &+= 1
            return nil
        }
        return fragment
    }

    /// Gives back a TX buffer that was never queued.
    @inlinable
    public mutating func releaseTransmitBuffer(_ fragment: Fragment) {
        transmitCache.free(fragment)
    }

    /// Queues frames for transmit: each fragment is the TX ring's until its completion, which
    /// frees it. `frames` are fragments built here (address = fragment offset) or frames
    /// received on any queue sharing the UMEM (forwarded without a copy); a chain goes on the
    /// ring whole (its buffers in order, each but the last flagged XDP_PKT_CONTD) or not at
    /// all. Returns how many frames were queued; the rest (TX ring full) stay the caller's.
    public mutating func transmit(_ frames: UnsafeBufferPointer<ReceivedFrame>) -> Int {
        let tx = socket.tx
        // On a multi-buffer socket, room for one more chain than single buffers need; what is
        // not written is given back at submit.
        let batch = tx.reserve(upTo: multiBuffer ? frames.count &+ FrameChain.transmitLimit : frames.count)
        var bytes: UInt64 = 0
        var slot = 0
        var queued = 0
        while queued < frames.count {
            let frame = frames[queued]
            if frame.segments > 1 {
                // Refused before the room check, which a chain the ring can never hold fails
                // forever.
                if !multiBuffer || Int(frame.segments) > FrameChain.transmitLimit { refuseTransmit(frame) }
                guard slot &+ Int(frame.segments) <= batch.count else { break }
                slot = queueChain(frame, into: batch, at: slot)
            } else {
                guard slot < batch.count else { break }
                batch[slot] = xdp_desc(addr: frame.address, len: frame.length, options: 0)
                ledger.queuedForTransmit(frame.fragment.offset)
                slot &+= 1
            }
            bytes &+= UInt64(frame.length)
            queued &+= 1
        }
        tx.submit(batch, count: slot)
        guard queued > 0 else { return 0 }
        counters.transmitBatches &+= 1
        counters.txPackets &+= UInt64(truncatingIfNeeded: queued)
        counters.txBytes &+= bytes
        if tx.needsWakeup { try? wakeTransmit() }
        return queued
    }

    /// Checks that `frame` may go on this queue's TX ring: a chain only on a multi-buffer
    /// socket and no longer than the kernel sends, every buffer inside the UMEM, inside its own
    /// fragment and no longer than a chunk, no empty buffer in a chain. Throws what is wrong, naming the buffer; for
    /// descriptors built by hand (frames from `allocateTransmitBuffer` or received on a queue
    /// of this UMEM, left as they were, always pass).
    public func checkTransmit(_ frame: ReceivedFrame) throws(TransmitRefusal) {
        let buffers = Int(frame.segments)
        if buffers > 1 {
            guard multiBuffer else { throw .chainOnSingleBufferSocket(buffers: buffers) }
            guard buffers <= FrameChain.transmitLimit else {
                throw .chainTooLong(buffers: buffers, limit: FrameChain.transmitLimit)
            }
        }
        // Walked by hand rather than with `FrameChain.forEachBuffer`: each buffer's fragment is
        // checked before its link (in the fragment's first bytes) is read.
        let umemSize = UInt64(pool.size)
        let chunkSize = socket.umem.configuration.chunkSize
        let base = pool.base
        var buffer = frame
        buffer.segments = 1
        var remaining = frame.length
        for index in 0..<buffers {
            // The last buffer holds what its predecessors' links leave; the others say in
            // their own link, read once their fragment is known to be ours.
            if index == buffers &- 1 { buffer.length = remaining }
            let fragmentEnd = buffer.fragment.offset &+ UInt64(buffer.fragment.length)
            let start = buffer.dataOffset
            guard fragmentEnd <= umemSize, fragmentEnd >= buffer.fragment.offset, start < umemSize else {
                throw .outsideUmem(index: index, address: buffer.address, length: buffer.length, umemSize: Int(umemSize))
            }
            var next = buffer
            if index < buffers &- 1 {
                guard buffer.fragment.length >= UInt32(MemoryLayout<ChainLink>.size) else {
                    throw .pastBuffer(index: index, address: buffer.address, length: buffer.length, room: 0)
                }
                let link = FrameChain.link(of: buffer, base: base)
                guard link.length <= remaining else { throw .lengthsDisagree(total: frame.length) }
                buffer.length = link.length
                next = link.next(length: 0)
            }
            remaining &-= buffer.length
            guard buffer.length <= chunkSize else {
                throw .longerThanChunk(index: index, length: buffer.length, chunkSize: Int(chunkSize))
            }
            let end = start &+ UInt64(buffer.length)
            guard end <= umemSize else {
                throw .outsideUmem(index: index, address: buffer.address, length: buffer.length, umemSize: Int(umemSize))
            }
            guard start >= buffer.fragment.offset, end <= fragmentEnd else {
                let room = start < buffer.fragment.offset || start > fragmentEnd ? 0 : Int(fragmentEnd &- start)
                throw .pastBuffer(index: index, address: buffer.address, length: buffer.length, room: room)
            }
            if buffers > 1, buffer.length == 0 { throw .emptyBuffer(index: index) }
            buffer = next
        }
    }

    /// Traps with `checkTransmit`'s words if `frame` fails it: a bad chain never reaches the
    /// ring.
    @inline(never)
    @usableFromInline
    func refuseTransmit(_ frame: ReceivedFrame) {
        do throws(TransmitRefusal) {
            try checkTransmit(frame)
        } catch {
            preconditionFailure("\(socket.interface) queue \(socket.queue): transmit refused: \(error)")
        }
    }

    /// Writes `frame`'s buffers into `batch` from `slot` on; returns the slot after them.
    @inline(never)
    @usableFromInline
    mutating func queueChain(_ frame: ReceivedFrame, into batch: DescriptorBatch, at slot: Int) -> Int {
        refuseTransmit(frame)
        var next = slot
        let last = slot &+ Int(frame.segments) &- 1
        FrameChain.forEachBuffer(of: frame, base: pool.base) { buffer in
            batch[next] = xdp_desc(addr: buffer.address, len: buffer.length, options: next == last ? 0 : FrameChain.continues)
            ledger.queuedForTransmit(buffer.fragment.offset)
            next &+= 1
        }
        counters.txChains &+= 1
        counters.txChainBuffers &+= UInt64(truncatingIfNeeded: frame.segments)
        return next
    }

    /// Frames the TX ring can take now, up to `count`.
    @inlinable
    public func transmitSpace(upTo count: Int) -> Int { socket.tx.freeSlots(upTo: count) }

    /// Kicks the kernel's TX processing when frames wait in the TX ring and the kernel asked
    /// to be woken: for an idle round, so that queued frames do not wait for the next send.
    @inlinable
    public mutating func kickTransmitIfWaiting() {
        if transmitOutstanding > 0, socket.tx.needsWakeup { try? wakeTransmit() }
    }

    /// Frames queued for transmit and not completed yet.
    @inlinable
    public var transmitOutstanding: Int {
        Int(truncatingIfNeeded: counters.txBuffers &- counters.completions)
    }

    /// Counts received frames that the application passed to a TX ring (this queue's or
    /// another's): they are no longer the application's.
    @inlinable
    public mutating func forwarded(_ count: Int) {
        counters.forwarded &+= UInt64(truncatingIfNeeded: count)
    }

    /// Counts frames the application wanted sent that no TX ring could take (given back).
    @inlinable
    public mutating func transmitRingWasFull(dropping count: Int) {
        counters.transmitRingFullDrops &+= UInt64(truncatingIfNeeded: count)
    }

    /// Frees the buffers the completion ring gives back (sent frames); returns how many.
    @discardableResult
    public mutating func reapCompletions() -> Int {
        let completion = socket.completion
        let batch = completion.peek(upTo: completion.size)
        var done = 0
        for index in 0..<batch.count {
            let start = addressing.start(of: batch[index])
            guard ledger.takeCompleted(start) else {
                counters.invalidAddresses &+= 1
                continue
            }
            if start == watchedCompletion {
                watchedCompletion = .max
                watchedCompletionSeen = true
            }
            // From this queue's caches or another queue's: the pool finds the page either way.
            transmitCache.free(Fragment(offset: start, length: 0))
            done &+= 1
        }
        completion.release(batch)
        counters.completions &+= UInt64(truncatingIfNeeded: done)
        return done
    }

    /// Watches for the completion of the buffer at UMEM offset `address` (a descriptor's address
    /// without its offset bits): `watchedCompletionSeen` turns true when it is reaped. One watch
    /// at a time; `.max` ends the watch.
    public mutating func watchCompletion(of address: UInt64) {
        watchedCompletion = address
        watchedCompletionSeen = false
    }

    // MARK: MTU

    /// Reads the interface's MTU and follows a change (see `FrameLimit`): fill buffers for the
    /// new size from now on, and the XDP program's frame limit lowered at once or raised once
    /// every smaller buffer already posted has been used. Descriptor slots and aligned chunks
    /// keep their fixed buffers and their limit (whole chunks on a multi-buffer socket take
    /// chains of any length already); the log says so. A fixed `mtu` in the configuration
    /// follows nothing.
    public mutating func refreshMTU() throws(XSKError) {
        guard configuration.mtu == nil else { return }
        let current = try socket.linkMTU()
        let from = limit.mtu
        guard let change = limit.follow(mtu: current, fillPosted: counters.fillPosted) else { return }
        fill.fragmentSize = limit.fragmentSize
        switch change {
        case .limitNow(let newLimit):
            logger.notice(
                "MTU changed; frame limit follows now",
                metadata: [
                    "from": "\(from)", "to": "\(current)", "fragment": "\(limit.fragmentSize)", "frameLimit": "\(newLimit)",
                    "chains": "\(limit.takesChains)",
                ])
            try programs?.setFrameLimit(UInt32(newLimit), queue: socket.queue)
        case .raiseLater(let newLimit):
            logger.notice(
                "MTU changed; frame limit follows once the smaller buffers are used",
                metadata: ["from": "\(from)", "to": "\(current)", "fragment": "\(limit.fragmentSize)", "frameLimit": "\(newLimit)"])
        case .fixed:
            // Fixed buffers: descriptor slots' half pages, or aligned chunks. Whole chunks on a
            // multi-buffer socket already take frames of any length as chains.
            let message: Logger.Message =
                limit.takesChains
                ? "MTU changed; buffers are whole chunks taking chains: longer frames arrive as chains already"
                : addressing.aligned
                    ? "MTU changed; aligned chunks keep their buffers: longer frames stay with the kernel"
                    : "MTU changed; descriptor slots keep their buffers: longer frames stay with the kernel"
            logger.notice(
                message,
                metadata: [
                    "from": "\(from)", "to": "\(current)", "frameLimit": "\(limit.frameLimit)", "chains": "\(limit.takesChains)",
                ])
        }
    }

    @inline(never)
    mutating func applyRaise() {
        guard let raised = limit.applyRaise() else { return }
        do {
            try programs?.setFrameLimit(UInt32(raised), queue: socket.queue)
            logger.info("frame limit raised", metadata: ["frameLimit": "\(raised)", "chains": "\(limit.takesChains)"])
        } catch {
            logger.error("cannot raise the frame limit", metadata: ["error": "\(error)"])
        }
    }
}
