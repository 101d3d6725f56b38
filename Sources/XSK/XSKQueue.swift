// One queue's data path, kept the way a NIC driver keeps its RX/TX rings: the AF_XDP socket
// and its four rings, the fragment caches that feed them (one for the fill ring, one for frames
// the application builds), and an account of every buffer: in the fill ring or with the kernel,
// with the application, in the TX ring, or back in a cache.
//
// Single owner: the queue's poll thread holds it as a local and calls its mutating methods; no
// lock, no atomic, no allocation per packet (a fragment the application frees on this thread
// goes back to the cache's bias; the pool's atomic free is for fragments of pages the cache
// has let go, and for other threads).

import CShims
import Logging
import PageFrag
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// A received frame, the application's until it calls `release` or passes it to `transmit`.
@frozen
public struct ReceivedFrame: Sendable {
    /// The fill fragment the frame landed in; this is what goes back to the pool.
    public var fragment: Fragment
    /// The descriptor address: the fragment's start with the data's offset inside it in the top
    /// 16 bits (unaligned-chunk mode). Send it as is to forward the frame without a copy.
    public var address: UInt64
    public var length: UInt32

    @inlinable
    public init(fragment: Fragment, address: UInt64, length: UInt32) {
        self.fragment = fragment
        self.address = address
        self.length = length
    }

    /// UMEM offset of the first byte of the frame.
    @inlinable
    public var dataOffset: UInt64 { xsk_umem__add_offset_to_addr(address) }
}

public struct XSKQueue: ~Copyable {
    public struct Configuration: Sendable {
        /// Descriptors per ring operation.
        public var batchSize = 64
        /// Fill fragments start at multiples of this (a cache line by default).
        public var fragmentAlignment = 64
        /// The link MTU to size fill fragments for; nil reads it from the interface.
        public var mtu: Int?
        /// How the fill ring gets its buffers.
        public var fillStrategy: FillStrategy = .fragmentCache
        public init() {}
    }

    public enum FillStrategy: String, Sendable, CaseIterable {
        /// Ring level: fragments sized from the MTU, packed at any offset in the fill cache's
        /// pages (the most buffers per MiB of UMEM).
        case fragmentCache = "fragment-cache"
        /// Descriptor level: one half-page buffer per fill slot, flipped and reposted on the
        /// same page while the application gives buffers back quickly (the hottest cache).
        case descriptorSlots = "descriptor-slots"
    }

    public let socket: XSKSocket
    public let pool: PagePool
    public let configuration: Configuration
    let programs: XDPPrograms?
    @usableFromInline var fillCache: PageFragCache
    @usableFromInline var transmitCache: PageFragCache
    /// Descriptor-level buffers, with `.descriptorSlots`.
    @usableFromInline var slots: RxBufferSlots?
    /// Replacement buffers the slots handed back and not yet posted. The kernel publishes
    /// its fill-ring consumer index lazily, so the ring can look fuller than it is for a moment:
    /// what does not fit waits here for the next receive.
    let replacements: UnsafeMutablePointer<UInt64>
    var pendingReplacements = 0
    /// Fragments posted to the fill ring and not back yet (RX descriptors must name one).
    let postedForReceive: FragmentBitmap
    /// Fragments posted to the TX ring and not completed yet (completions must name one): kept
    /// apart so that a completion can never free a buffer the fill ring still holds.
    let postedForTransmit: FragmentBitmap
    /// Bytes of each fill fragment: headroom + 256 + the longest frame the MTU allows.
    public private(set) var fragmentSize: Int
    public private(set) var mtu: Int
    /// The frame limit the XDP program applies to this queue.
    public private(set) var frameLimit: Int
    /// A raise of the frame limit waiting until every smaller fragment has come back.
    var pendingLimit: (afterReceived: UInt64, limit: Int)?
    /// Counters kept as drivers keep them, in plain memory on the poll thread.
    @inlinable public var statistics: Statistics { counters }
    @usableFromInline var counters = Statistics()
    let headroom: Int
    let logger: Logger

    /// Counters kept as drivers keep them, in plain memory on the poll thread.
    public struct Statistics: Sendable, Equatable {
        public var rxPackets: UInt64 = 0
        public var rxBytes: UInt64 = 0
        public var txPackets: UInt64 = 0
        public var txBytes: UInt64 = 0
        /// Fragments posted to the fill ring, ever.
        public var fillPosted: UInt64 = 0
        /// Times a refill found no fragment to post (the pool ran dry).
        public var fillShortfalls: UInt64 = 0
        /// Times a receive found the fill ring empty (the kernel had nothing to receive into).
        public var fillRingEmptyEvents: UInt64 = 0
        /// Frames given back by the application.
        public var released: UInt64 = 0
        /// Frames the application handed to a TX ring (this queue's or another's).
        public var forwarded: UInt64 = 0
        public var txSubmitted: UInt64 = 0
        public var completions: UInt64 = 0
        /// RX or completion addresses that were not buffers this queue gave the kernel:
        /// counted and skipped, never followed.
        public var invalidAddresses: UInt64 = 0
        /// RX descriptors for our buffers whose length runs past the buffer: counted, the frame
        /// skipped, the buffer taken back.
        public var invalidLengths: UInt64 = 0
        /// Times the application asked for a TX buffer and the pool had none.
        public var transmitAllocationFailures: UInt64 = 0
        /// Receives that took at least one frame: rxPackets / receiveBatches is the mean RX batch.
        public var receiveBatches: UInt64 = 0
        /// Transmits that queued at least one frame: txSubmitted / transmitBatches is the mean TX batch.
        public var transmitBatches: UInt64 = 0
        /// The data path's system calls, each counted where it is made: poll() sleeps, RX
        /// wakeups (recvfrom), TX wakeups (sendto). Per frame, they say what the rings cost.
        public var sleeps: UInt64 = 0
        /// Timed naps (nanosleep) of the adaptive wait while a stream flows.
        public var naps: UInt64 = 0
        public var receiveWakeups: UInt64 = 0
        public var transmitWakeups: UInt64 = 0
        public init() {}
    }

    /// Sets up the buffers of `socket`'s queue and fills its fill ring. `programs`, when given,
    /// receives the queue's frame limit.
    public init(socket: XSKSocket, programs: XDPPrograms?, configuration: Configuration = .init(), logger: Logger) throws(XSKError) {
        precondition(!socket.sharesQueueRings, "a socket that shares its queue's rings has no fill ring to manage")
        let alignment = configuration.fragmentAlignment
        precondition(alignment > 0 && alignment & (alignment - 1) == 0 && alignment <= 4096)
        self.socket = socket
        self.pool = socket.umem.pool
        self.configuration = configuration
        self.programs = programs
        var logger = logger
        logger[metadataKey: "interface"] = "\(socket.interface)"
        logger[metadataKey: "queue"] = "\(socket.queue)"
        self.logger = logger
        headroom = Int(socket.umem.configuration.headroom)
        let linkMTU: Int
        if let mtu = configuration.mtu { linkMTU = mtu } else { linkMTU = try socket.linkMTU() }
        let chunkSize = Int(socket.umem.configuration.chunkSize)
        // Descriptor slots use half a 4 KiB page each, whatever the MTU.
        let size = configuration.fillStrategy == .descriptorSlots
            ? min(2048, chunkSize)
            : Self.fragmentSize(mtu: linkMTU, headroom: headroom, alignment: alignment, chunkSize: chunkSize)
        try programs?.setFrameLimit(UInt32(size - 256 - headroom), queue: socket.queue)
        mtu = linkMTU
        fragmentSize = size
        frameLimit = size - 256 - headroom
        fillCache = PageFragCache(pool: pool)
        transmitCache = PageFragCache(pool: pool)
        postedForReceive = FragmentBitmap(regionSize: pool.size, granularity: min(alignment, 64))
        postedForTransmit = FragmentBitmap(regionSize: pool.size, granularity: min(alignment, 64))
        replacements = .allocate(capacity: socket.fill.size + max(configuration.batchSize, 1))
        if configuration.fillStrategy == .descriptorSlots {
            slots = RxBufferSlots(pool: pool, count: socket.fill.size, fragmentSize: size)
            startSlots()
        } else {
            slots = nil
            refill()
        }
        logger.info(
            "queue ready",
            metadata: ["mtu": "\(linkMTU)", "fragment": "\(fragmentSize)", "frameLimit": "\(frameLimit)", "posted": "\(counters.fillPosted)"])
    }

    /// The fill fragment size for a link MTU: room for the kernel's 256-byte XDP headroom, the
    /// UMEM headroom, and the longest frame (MTU + Ethernet header + one VLAN tag), rounded up
    /// to the alignment, and never more than the chunk the kernel assumes.
    public static func fragmentSize(mtu: Int, headroom: Int, alignment: Int, chunkSize: Int) -> Int {
        let needed = 256 + headroom + mtu + 14 + 4
        let rounded = (needed + alignment - 1) / alignment * alignment
        return min(rounded, chunkSize)
    }

    deinit {
        replacements.deallocate()
    }

    // MARK: Receive

    mutating func startSlots() {
        let fill = socket.fill
        let batch = fill.reserve(upTo: fill.size)
        var written = 0
        slots!.start { fragment in
            precondition(written < batch.count)
            batch[written] = fragment.offset
            postedForReceive.insert(fragment.offset)
            written += 1
        }
        fill.submit(batch, count: written)
        counters.fillPosted &+= UInt64(written)
    }

    /// Tops the fill ring up with fresh fragments; returns how many were posted.
    @discardableResult
    public mutating func refill() -> Int {
        // Descriptor slots repost as they receive.
        guard slots == nil else { return 0 }
        let fill = socket.fill
        // The ring ran dry since the last refill: the kernel may have had nothing to receive
        // into (XDP_STATISTICS counts the frames that found it so).
        if counters.fillPosted > 0, fill.pending == 0 { counters.fillRingEmptyEvents &+= 1 }
        let batch = fill.reserve(upTo: fill.size)
        var written = 0
        while written < batch.count {
            guard let fragment = fillCache.alloc(size: fragmentSize, alignment: configuration.fragmentAlignment) else {
                counters.fillShortfalls &+= 1
                break
            }
            batch[written] = fragment.offset
            postedForReceive.insert(fragment.offset)
            written &+= 1
        }
        fill.submit(batch, count: written)
        counters.fillPosted &+= UInt64(truncatingIfNeeded: written)
        return written
    }

    /// Takes up to `frames.count` received frames (each is then the application's), and
    /// refills the fill ring for them. Returns how many were taken.
    public mutating func receive(into frames: UnsafeMutableBufferPointer<ReceivedFrame>) -> Int {
        let rx = socket.rx
        let batch = rx.peek(upTo: min(frames.count, configuration.batchSize))
        if batch.count == 0 { return 0 }
        var taken = 0
        var replaced = pendingReplacements
        var bytes: UInt64 = 0
        let usesSlots = slots != nil
        for index in 0..<batch.count {
            let descriptor = batch[index]
            let start = xsk_umem__extract_addr(descriptor.addr)
            // Only what this queue gave the kernel may come back; anything else is skipped.
            guard start < UInt64(pool.size), postedForReceive.remove(start) else {
                counters.invalidAddresses &+= 1
                continue
            }
            var fragment = Fragment(offset: start, length: UInt32(truncatingIfNeeded: fragmentSize))
            // Our buffer, but a length past its end: never handed to the job; the buffer itself
            // goes back (slots repost it, the cache takes its reference).
            guard xsk_umem__extract_offset(descriptor.addr) &+ UInt64(descriptor.len) <= UInt64(fragmentSize) else {
                counters.invalidLengths &+= 1
                if usesSlots, let (received, replacement) = slots?.received(at: start) {
                    slots?.release(received)
                    if let replacement {
                        replacements[replaced] = replacement.offset
                        replaced &+= 1
                    }
                } else {
                    fillCache.free(fragment)
                }
                continue
            }
            if usesSlots, let (received, replacement) = slots?.received(at: start) {
                fragment = received
                if let replacement {
                    replacements[replaced] = replacement.offset
                    replaced &+= 1
                }
            }
            frames[taken] = ReceivedFrame(fragment: fragment, address: descriptor.addr, length: descriptor.len)
            bytes &+= UInt64(descriptor.len)
            taken &+= 1
        }
        rx.release(batch)
        counters.receiveBatches &+= 1
        counters.rxPackets &+= UInt64(truncatingIfNeeded: taken)
        counters.rxBytes &+= bytes
        if let pendingLimit, counters.rxPackets >= pendingLimit.afterReceived { applyPendingLimit() }
        if usesSlots {
            postReplacements(replaced)
        } else {
            refill()
        }
        return taken
    }

    mutating func postReplacements(_ count: Int) {
        guard count > 0 else { return }
        let fill = socket.fill
        let batch = fill.reserve(upTo: count)
        for index in 0..<batch.count {
            batch[index] = replacements[index]
            postedForReceive.insert(replacements[index])
        }
        fill.submit(batch)
        counters.fillPosted &+= UInt64(truncatingIfNeeded: batch.count)
        pendingReplacements = count - batch.count
        for index in 0..<pendingReplacements {
            replacements[index] = replacements[batch.count + index]
        }
    }

    /// Gives a received frame back; on this thread, its reference returns to the fill cache's
    /// (or its slot's) bias without an atomic when its page is still that holder's.
    @inlinable
    public mutating func release(_ frame: ReceivedFrame) {
        if slots != nil {
            slots?.release(frame.fragment)
        } else {
            fillCache.free(frame.fragment)
        }
        counters.released &+= 1
    }

    /// Whether the kernel sleeps until woken (need_wakeup) before it fills the RX ring again.
    /// Inlinable: read in every empty polling round, where an opaque getter made the caller
    /// copy the whole queue (736 bytes) to pass it (measured: 6.7% of a spinning thread).
    @inlinable public var needsReceiveWakeup: Bool { socket.fill.needsWakeup }

    // MARK: Waiting and wakeups (the data path's system calls, counted)

    /// Kicks the kernel's RX processing (`recvfrom`): when `needsReceiveWakeup` says it
    /// sleeps, or to busy-poll the device's NAPI in this thread.
    public mutating func wakeReceive() throws(XSKError) {
        counters.receiveWakeups &+= 1
        try socket.wakeReceive()
    }

    /// Kicks the kernel's TX processing (`sendto`); `transmit` does it when the ring asks.
    public mutating func wakeTransmit() throws(XSKError) {
        counters.transmitWakeups &+= 1
        try socket.wakeTransmit()
    }

    /// Sleeps in `poll()` until a frame arrives or the timeout passes; returns whether one did.
    public mutating func sleep(timeoutMilliseconds: Int32) throws(XSKError) -> Bool {
        counters.sleeps &+= 1
        return try socket.poll(timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Naps for `duration` (nanosleep) without waiting on the socket: the kernel's flushes find
    /// no sleeper to wake, and frames gather in the RX ring meanwhile.
    public mutating func nap(_ duration: Duration) {
        counters.naps &+= 1
        let (seconds, attoseconds) = duration.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        // EINTR: a signal cut the nap short, which is harmless.
        _ = nanosleep(&request, nil)
    }

    /// Sleeps in one `poll()` until either queue has a frame, or the timeout passes (the
    /// forward job's two ports). Counted as a sleep of `self`.
    public mutating func sleep(orUntil other: borrowing XSKQueue, timeoutMilliseconds: Int32) throws(XSKError) -> Bool {
        counters.sleeps &+= 1
        return try socket.poll(orUntil: other.socket, timeoutMilliseconds: timeoutMilliseconds)
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
            postedForTransmit.insert(frame.fragment.offset)
            bytes &+= UInt64(frame.length)
        }
        tx.submit(batch)
        guard batch.count > 0 else { return 0 }
        counters.transmitBatches &+= 1
        counters.txSubmitted &+= UInt64(truncatingIfNeeded: batch.count)
        counters.txBytes &+= bytes
        if tx.needsWakeup { try? wakeTransmit() }
        return batch.count
    }

    /// Counts a received frame that the application passed to another queue's `transmit`.
    @inlinable
    public mutating func forwarded(_ count: Int) {
        counters.forwarded &+= UInt64(truncatingIfNeeded: count)
    }

    /// Frees the buffers the completion ring gives back (sent frames); returns how many.
    @discardableResult
    public mutating func reapCompletions() -> Int {
        let completion = socket.completion
        let batch = completion.peek(upTo: completion.size)
        var done = 0
        for index in 0..<batch.count {
            let start = xsk_umem__extract_addr(batch[index])
            guard start < UInt64(pool.size), postedForTransmit.remove(start) else {
                counters.invalidAddresses &+= 1
                continue
            }
            // From this queue's caches or another queue's: the pool finds the page either way.
            transmitCache.free(Fragment(offset: start, length: 0))
            done &+= 1
        }
        completion.release(batch)
        counters.completions &+= UInt64(truncatingIfNeeded: done)
        counters.txPackets &+= UInt64(truncatingIfNeeded: done)
        return done
    }

    // MARK: MTU

    /// Reads the interface's MTU and follows a change: fragments for the new size from now on,
    /// and the XDP program's frame limit lowered at once, or raised only once every smaller
    /// fragment already posted has been used (a longer frame would overrun it).
    public mutating func refreshMTU() throws(XSKError) {
        guard configuration.mtu == nil else { return }
        let current = try socket.linkMTU()
        guard current != mtu else { return }
        let newSize = Self.fragmentSize(
            mtu: current, headroom: headroom, alignment: configuration.fragmentAlignment,
            chunkSize: Int(socket.umem.configuration.chunkSize))
        let newLimit = newSize - 256 - headroom
        logger.notice("MTU changed", metadata: ["from": "\(mtu)", "to": "\(current)", "fragment": "\(newSize)"])
        mtu = current
        fragmentSize = newSize
        if newLimit <= frameLimit {
            frameLimit = newLimit
            pendingLimit = nil
            try programs?.setFrameLimit(UInt32(newLimit), queue: socket.queue)
        } else {
            // Everything posted so far may be smaller; frames are delivered in fill order.
            pendingLimit = (counters.fillPosted, newLimit)
        }
    }

    mutating func applyPendingLimit() {
        guard let pendingLimit else { return }
        self.pendingLimit = nil
        frameLimit = pendingLimit.limit
        do {
            try programs?.setFrameLimit(UInt32(pendingLimit.limit), queue: socket.queue)
        } catch {
            logger.error("cannot raise the frame limit", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Accounting

    /// Where this queue's buffers are now. (Mutating only because reading through an optional
    /// non-copyable value needs exclusive access in Swift today.)
    public var census: QueueCensus {
        mutating get { makeCensus() }
    }

    mutating func makeCensus() -> QueueCensus {
        let fillRing = socket.fill.pending
        let txRing = socket.tx.pending
        let transmitOutstanding = postedForTransmit.count
        let fillOutstanding = postedForReceive.count
        return QueueCensus(
            inFillRing: fillRing,
            withKernelForReceive: max(0, fillOutstanding - fillRing),
            inApplication: Int(counters.rxPackets &- counters.released &- counters.forwarded),
            inTransmitRing: txRing,
            withKernelForTransmit: max(0, transmitOutstanding - txRing),
            fillCachePage: fillCache.currentPage,
            transmitCachePage: transmitCache.currentPage,
            cacheStatistics: fillCache.statistics,
            slotStatistics: slots?.statistics)
    }

    // MARK: Teardown

    /// Stops the queue: takes back what the kernel returns, closes the socket so the kernel
    /// lets go of the rest (what was in the fill ring, what it held to receive into), gives all
    /// of that back to the pool, and drains both caches with one call per page. Frames the
    /// application still holds stay valid and are reported; the pool's quiescence check is the
    /// pool owner's, once every queue has stopped.
    public consuming func stop(programs: XDPPrograms? = nil, transmitTimeout: Duration = .milliseconds(500)) -> StopReport {
        programs?.removeSocket(queue: socket.queue)
        // Frames still queued for transmit: give the kernel a moment to send them.
        let deadline = ContinuousClock.now + transmitTimeout
        while Int(counters.txSubmitted &- counters.completions) > 0, ContinuousClock.now < deadline {
            try? socket.wakeTransmit()
            if reapCompletions() == 0 { usleep(1000) }
        }
        // What arrived and nobody will read: straight back.
        var arrivedAtStop = 0
        let rx = socket.rx
        while true {
            let batch = rx.peek(upTo: 256)
            if batch.count == 0 { break }
            for index in 0..<batch.count {
                let start = xsk_umem__extract_addr(batch[index].addr)
                if start < UInt64(pool.size), postedForReceive.remove(start) {
                    pool.free(Fragment(offset: start, length: 0))
                    arrivedAtStop += 1
                } else {
                    counters.invalidAddresses &+= 1
                }
            }
            rx.release(batch)
        }
        let application = Int(counters.rxPackets &- counters.released &- counters.forwarded)
        socket.close()
        // The socket is closed: the kernel holds nothing of ours any more.
        var reclaimed = 0
        for posted in [postedForReceive, postedForTransmit] {
            posted.removeAll { offset in
                pool.free(Fragment(offset: offset, length: 0))
                reclaimed += 1
            }
        }
        // Replacements never posted hold their references too.
        for index in 0..<pendingReplacements {
            pool.free(Fragment(offset: replacements[index], length: 0))
            reclaimed += 1
        }
        pendingReplacements = 0
        fillCache.drain()
        transmitCache.drain()
        slots?.drainAll()
        let report = StopReport(
            interface: socket.interface.name, queue: socket.queue, statistics: counters,
            arrivedAtStop: arrivedAtStop, reclaimedFromKernel: reclaimed, stillInApplication: application)
        logger.info("queue stopped", metadata: ["report": "\(report)"])
        return report
    }
}

/// Where one queue's buffers are, at one moment (ring indices are snapshots).
public struct QueueCensus: Sendable, Equatable {
    /// Posted to the fill ring, not yet taken by the kernel.
    public var inFillRing: Int
    /// Taken by the kernel to receive into, not yet in the RX ring.
    public var withKernelForReceive: Int
    /// Received and not yet released or forwarded.
    public var inApplication: Int
    /// In the TX ring, not yet taken by the kernel.
    public var inTransmitRing: Int
    /// Taken by the kernel to send, not yet completed.
    public var withKernelForTransmit: Int
    public var fillCachePage: Page?
    public var transmitCachePage: Page?
    public var cacheStatistics: PageFragCache.Statistics
    /// Descriptor-level page reuse, with `.descriptorSlots`.
    public var slotStatistics: RxBufferSlots.Statistics?
}

/// What stopping a queue found and gave back.
public struct StopReport: Sendable, CustomStringConvertible {
    public var interface: String
    public var queue: UInt32
    public var statistics: XSKQueue.Statistics
    /// Frames in the RX ring at stop, given straight back.
    public var arrivedAtStop: Int
    /// Buffers the kernel held (fill ring, or taken to receive or send into) when the socket
    /// closed, given back to the pool.
    public var reclaimedFromKernel: Int
    /// Frames the application still holds: valid until it frees them.
    public var stillInApplication: Int

    public var description: String {
        "\(interface) queue \(queue): rx \(statistics.rxPackets), tx \(statistics.txPackets), "
            + "returned at stop \(arrivedAtStop), reclaimed from the kernel \(reclaimedFromKernel), "
            + "still with the application \(stillInApplication), invalid addresses \(statistics.invalidAddresses), "
            + "invalid lengths \(statistics.invalidLengths)"
    }
}
