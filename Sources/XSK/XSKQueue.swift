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
        let limit = FrameLimit(
            mtu: linkMTU, headroom: Int(socket.umem.configuration.headroom), alignment: alignment,
            maximumFragmentSize: strategy.maximumFragmentSize(chunkSize: Int(socket.umem.configuration.chunkSize)),
            resizable: strategy == .fragmentCache)
        try programs?.setFrameLimit(UInt32(limit.frameLimit), queue: socket.queue)
        self.limit = limit
        self.socket = socket
        self.pool = socket.umem.pool
        self.configuration = configuration
        self.programs = programs
        var logger = logger
        logger[metadataKey: "interface"] = "\(socket.interface)"
        logger[metadataKey: "queue"] = "\(socket.queue)"
        self.logger = logger
        fill = FillSource(
            strategy: strategy, pool: pool, fillRingSize: socket.fill.size, batchSize: configuration.batchSize,
            fragmentSize: limit.fragmentSize, alignment: alignment)
        transmitCache = PageFragCache(pool: pool)
        ledger = KernelLedger(regionSize: pool.size, granularity: min(alignment, 64))
        fill.start(socket.fill, ledger: ledger, counters: &counters)
        logger.info(
            "queue ready",
            metadata: [
                "mtu": "\(linkMTU)", "fragment": "\(limit.fragmentSize)", "frameLimit": "\(limit.frameLimit)",
                "posted": "\(counters.fillPosted)",
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
    /// refills the fill ring for them. Returns how many were taken.
    public mutating func receive(into frames: UnsafeMutableBufferPointer<ReceivedFrame>) -> Int {
        let rx = socket.rx
        let batch = rx.peek(upTo: min(frames.count, configuration.batchSize))
        if batch.count == 0 { return 0 }
        var taken = 0
        var bytes: UInt64 = 0
        let fragmentSize = UInt64(limit.fragmentSize)
        for index in 0..<batch.count {
            let descriptor = batch[index]
            let start = xsk_umem__extract_addr(descriptor.addr)
            // Only what this queue gave the kernel may come back; anything else is skipped.
            guard ledger.takeReceived(start) else {
                counters.invalidAddresses &+= 1
                continue
            }
            let fragment = fill.received(at: start)
            // Our buffer, but a length past its end: never handed to the job; the buffer
            // itself goes back.
            guard xsk_umem__extract_offset(descriptor.addr) &+ UInt64(descriptor.len) <= fragmentSize else {
                counters.invalidLengths &+= 1
                fill.release(fragment)
                continue
            }
            frames[taken] = ReceivedFrame(fragment: fragment, address: descriptor.addr, length: descriptor.len)
            bytes &+= UInt64(descriptor.len)
            taken &+= 1
        }
        rx.release(batch)
        counters.receiveBatches &+= 1
        counters.rxPackets &+= UInt64(truncatingIfNeeded: taken)
        counters.rxBytes &+= bytes
        if limit.raiseIsDue(received: counters.rxPackets) { applyRaise() }
        fill.replenish(socket.fill, ledger: ledger, counters: &counters)
        return taken
    }

    /// Gives a received frame back; on this thread, its reference returns to the fill cache's
    /// (or its slot's) bias without an atomic when its page is still that holder's.
    @inlinable
    public mutating func release(_ frame: ReceivedFrame) {
        fill.release(frame.fragment)
        counters.released &+= 1
    }

    // MARK: Transmit

    /// A buffer for a frame the application builds, from the queue's TX cache.
    @inlinable
    public mutating func allocateTransmitBuffer(length: Int) -> Fragment? {
        guard let fragment = transmitCache.alloc(size: length, alignment: configuration.fragmentAlignment) else {
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
    /// received on any queue sharing the UMEM (forwarded without a copy). Returns how many were
    /// queued; the rest (TX ring full) stay the caller's.
    public mutating func transmit(_ frames: UnsafeBufferPointer<ReceivedFrame>) -> Int {
        let tx = socket.tx
        let batch = tx.reserve(upTo: frames.count)
        var bytes: UInt64 = 0
        for index in 0..<batch.count {
            let frame = frames[index]
            batch[index] = xdp_desc(addr: frame.address, len: frame.length, options: 0)
            ledger.queuedForTransmit(frame.fragment.offset)
            bytes &+= UInt64(frame.length)
        }
        tx.submit(batch)
        guard batch.count > 0 else { return 0 }
        counters.transmitBatches &+= 1
        counters.txPackets &+= UInt64(truncatingIfNeeded: batch.count)
        counters.txBytes &+= bytes
        if tx.needsWakeup { try? wakeTransmit() }
        return batch.count
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
    public var transmitOutstanding: Int { Int(truncatingIfNeeded: counters.txPackets &- counters.completions) }

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
            let start = xsk_umem__extract_addr(batch[index])
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
    /// every smaller buffer already posted has been used. Descriptor slots keep their fixed
    /// half-page buffers and their limit; the log says so. A fixed `mtu` in the configuration
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
                metadata: ["from": "\(from)", "to": "\(current)", "fragment": "\(limit.fragmentSize)", "frameLimit": "\(newLimit)"])
            try programs?.setFrameLimit(UInt32(newLimit), queue: socket.queue)
        case .raiseLater(let newLimit):
            logger.notice(
                "MTU changed; frame limit follows once the smaller buffers are used",
                metadata: ["from": "\(from)", "to": "\(current)", "fragment": "\(limit.fragmentSize)", "frameLimit": "\(newLimit)"])
        case .fixed:
            logger.notice(
                "MTU changed; descriptor slots keep their buffers: longer frames stay with the kernel",
                metadata: ["from": "\(from)", "to": "\(current)", "frameLimit": "\(limit.frameLimit)"])
        }
    }

    @inline(never)
    mutating func applyRaise() {
        guard let raised = limit.applyRaise() else { return }
        do {
            try programs?.setFrameLimit(UInt32(raised), queue: socket.queue)
            logger.info("frame limit raised", metadata: ["frameLimit": "\(raised)"])
        } catch {
            logger.error("cannot raise the frame limit", metadata: ["error": "\(error)"])
        }
    }
}
