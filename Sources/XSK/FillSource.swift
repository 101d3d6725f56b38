// Where a queue's fill-ring buffers come from, and where received buffers go back to: either
// a ring-level fragment cache (fragments sized from the MTU, packed at any offset in the
// cache's pages: the most buffers per MiB of UMEM) or descriptor-level slots (one half-page
// buffer per fill slot, flipped and reposted on the same page while the application gives
// buffers back quickly: the hottest cache). This is the only code that knows both; the queue
// asks it for buffers and hands buffers back without asking which it is.
//
// With aligned chunks every buffer is one whole chunk, the same size wherever it lies, so a
// buffer given back on the poll thread is kept, with its page reference, and posted again as
// it is (`recycled`), newest first. The fill ring then cycles through the same buffers (as
// many as were ever in flight at once), and a given-back buffer costs a store, where the
// cache's `free` of a fragment from an older page is an atomic on that page's count and the
// carving walks fresh pages (more buffers are in flight than a page holds, so several pages
// turn over). The fragment cache carves only when the stack runs dry. (On veth the receive
// rate did not move with it: BENCHMARKS.md, issue 17.)
//
// Single owner: the queue's poll thread.

import PageFrag

/// How the fill ring gets its buffers.
public enum FillStrategy: String, Sendable, CaseIterable {
    /// Ring level: fragments sized from the MTU, packed at any offset in the fill cache's
    /// pages (the most buffers per MiB of UMEM).
    case fragmentCache = "fragment-cache"
    /// Descriptor level: one half-page buffer per fill slot, flipped and reposted on the
    /// same page while the application gives buffers back quickly (the hottest cache).
    case descriptorSlots = "descriptor-slots"

    /// The largest fill buffer this strategy can give out of a UMEM of `chunkSize`-byte chunks:
    /// slots use half a 4 KiB page each, whatever the MTU.
    public func maximumFragmentSize(chunkSize: Int) -> Int {
        switch self {
        case .fragmentCache: chunkSize
        case .descriptorSlots: min(PagePool.unitSize / 2, chunkSize)
        }
    }
}

@usableFromInline
struct FillSource: ~Copyable {
    let strategy: FillStrategy
    /// True with `.descriptorSlots`: read on every frame, so a stored flag, not a switch.
    @usableFromInline let usesSlots: Bool
    @usableFromInline var cache: PageFragCache
    @usableFromInline var slots: RxBufferSlots?
    /// Replacement buffers the slots handed back and not yet posted. The kernel publishes
    /// its fill-ring consumer index lazily, so the ring can look fuller than it is for a moment:
    /// what does not fit waits here for the next replenish.
    @usableFromInline let replacements: UnsafeMutablePointer<UInt64>
    @usableFromInline var pendingReplacements = 0
    /// Bytes of each fill buffer given out from now on.
    @usableFromInline var fragmentSize: Int
    @usableFromInline let alignment: Int
    /// The most buffers with the kernel for receive at once (see `init`); the ring's size
    /// where the whole ring is used.
    @usableFromInline let limit: Int
    /// Whether `limit` is below the ring's size, so that posting counts what the kernel holds.
    @usableFromInline let limitsKernelBuffers: Bool
    /// Posted to the fill ring and not yet back through the RX ring. Counted here rather than
    /// read off the ring: the kernel publishes its fill consumer index only at its flush (a
    /// NAPI batch late), and reading it is a load of a line the kernel's CPU writes at every
    /// flush. With the count, the reserve reads the consumer only when its cached view of the
    /// ring is too full for the batch.
    @usableFromInline var withKernel = 0
    /// Aligned chunks from the fragment cache: buffers given back, each still holding its page
    /// reference, kept to post again (a stack, newest on top). Capacity 0 otherwise.
    @usableFromInline let recycled: UnsafeMutablePointer<UInt64>
    @usableFromInline let recycleCapacity: Int
    @usableFromInline var recycledCount = 0

    /// `limit`: the most buffers posted and not yet received at once (at most the ring's size:
    /// those on the fill ring and those the kernel took from it). In copy mode the
    /// kernel takes a fill buffer only for a frame it is about to put on the RX ring, so a
    /// buffer beyond what the RX ring has free can never be used before the application
    /// consumes: more fill buffers than the RX ring has slots buy nothing there (measured on
    /// veth: the limit received 1.04-1.06x the frames of a full 4096-slot ring; why is not
    /// settled, see BENCHMARKS.md, issue 17). A zero-copy driver takes fill buffers ahead, into the NIC's own ring: there the
    /// whole ring is used.
    ///
    /// `recyclesWholeChunks`: every buffer is one whole chunk (aligned chunks), so any buffer
    /// given back can go on the fill ring again as it is.
    init(
        strategy: FillStrategy, pool: PagePool, fillRingSize: Int, limit: Int, batchSize: Int, fragmentSize: Int, alignment: Int,
        recyclesWholeChunks: Bool = false
    ) {
        precondition(limit > 0 && limit <= fillRingSize, "fill limit \(limit) must be 1...\(fillRingSize)")
        self.strategy = strategy
        usesSlots = strategy == .descriptorSlots
        self.fragmentSize = fragmentSize
        self.alignment = alignment
        self.limit = limit
        limitsKernelBuffers = limit < fillRingSize
        cache = PageFragCache(pool: pool)
        slots = usesSlots ? RxBufferSlots(pool: pool, count: limit, fragmentSize: fragmentSize) : nil
        replacements = .allocate(capacity: limit + max(batchSize, 1))
        // More than the fill ring holds would only sit here: the rest goes back to its page.
        recycleCapacity = recyclesWholeChunks && strategy == .fragmentCache ? limit : 0
        recycled = .allocate(capacity: max(recycleCapacity, 1))
    }

    /// Whether the fill buffer size can change while the queue runs (slots are fixed halves).
    var followsMTU: Bool { !usesSlots }

    /// Fills the empty fill ring for the first time.
    mutating func start(_ fill: FillRing, ledger: KernelLedger, counters: inout XSKQueue.Statistics) {
        guard usesSlots else {
            replenish(fill, ledger: ledger, counters: &counters)
            return
        }
        let batch = fill.reserve(upTo: fill.size)
        var written = 0
        slots!.start { fragment in
            precondition(written < batch.count)
            batch[written] = fragment.offset
            ledger.postedForReceive(fragment.offset)
            written += 1
        }
        fill.submit(batch, count: written)
        withKernel &+= written
        counters.fillPosted &+= UInt64(written)
    }

    /// A frame landed in the buffer at `start`: that buffer, now the application's. Slots
    /// decide here whether the page flips (before anything can free the half) and queue the
    /// replacement for `replenish`.
    @inlinable
    mutating func received(at start: UInt64) -> Fragment {
        withKernel &-= 1
        assert(withKernel >= 0, "more buffers received than posted")
        guard usesSlots, let (received, replacement) = slots?.received(at: start) else {
            return Fragment(offset: start, length: UInt32(truncatingIfNeeded: fragmentSize))
        }
        if let replacement {
            replacements[pendingReplacements] = replacement.offset
            pendingReplacements &+= 1
        }
        return received
    }

    /// Gives a buffer back on the owning thread: a whole chunk onto the stack for the next
    /// replenish while it has room; otherwise to the slot's or the cache's bias when its page
    /// is still theirs (no atomic), else to the pool.
    @inlinable
    mutating func release(_ fragment: Fragment) {
        if recycledCount < recycleCapacity {
            assert(fragment.offset % UInt64(truncatingIfNeeded: alignment) == 0, "a recycled buffer must be a whole chunk")
            recycled[recycledCount] = fragment.offset
            recycledCount &+= 1
        } else if usesSlots {
            slots?.release(fragment)
        } else {
            cache.free(fragment)
        }
    }

    /// Tops the fill ring up after a receive: fresh fragments from the cache, or the slots'
    /// replacements. Counts a ring found dry (the kernel may have had nothing to receive into)
    /// and a pool that ran out. Returns how many buffers it posted.
    @discardableResult
    mutating func replenish(_ fill: FillRing, ledger: KernelLedger, counters: inout XSKQueue.Statistics) -> Int {
        if usesSlots { return postReplacements(fill, ledger: ledger, counters: &counters) }
        if counters.fillPosted > 0, fill.pending == 0 { counters.fillRingEmptyEvents &+= 1 }
        // Below the limit by what came back; the reserve takes what the ring has room for.
        let wanted = limitsKernelBuffers ? limit &- withKernel : fill.size
        guard wanted > 0 else { return 0 }
        let batch = fill.reserve(upTo: wanted)
        var written = 0
        // Newest first: the buffers the kernel wrote into last, the likeliest still in a cache.
        while written < batch.count, recycledCount > 0 {
            recycledCount &-= 1
            let offset = recycled[recycledCount]
            batch[written] = offset
            ledger.postedForReceive(offset)
            written &+= 1
        }
        counters.fillRecycled &+= UInt64(truncatingIfNeeded: written)
        while written < batch.count {
            guard let fragment = cache.alloc(size: fragmentSize, alignment: alignment) else {
                counters.fillShortfalls &+= 1
                break
            }
            batch[written] = fragment.offset
            ledger.postedForReceive(fragment.offset)
            written &+= 1
        }
        fill.submit(batch, count: written)
        withKernel &+= written
        counters.fillPosted &+= UInt64(truncatingIfNeeded: written)
        return written
    }

    private mutating func postReplacements(_ fill: FillRing, ledger: KernelLedger, counters: inout XSKQueue.Statistics) -> Int {
        let count = pendingReplacements
        guard count > 0 else { return 0 }
        let batch = fill.reserve(upTo: count)
        for index in 0..<batch.count {
            batch[index] = replacements[index]
            ledger.postedForReceive(replacements[index])
        }
        fill.submit(batch)
        withKernel &+= batch.count
        counters.fillPosted &+= UInt64(truncatingIfNeeded: batch.count)
        pendingReplacements = count - batch.count
        for index in 0..<pendingReplacements {
            replacements[index] = replacements[batch.count + index]
        }
        return batch.count
    }

    /// Teardown, once: replacements never posted go back to the pool (returned: how many), so
    /// do the recycled buffers (the queue's own, not counted), then the cache and the slots give
    /// back their biases with one call per page. (No deinit: the
    /// queue's stop always ends here, and a deinit of this type inlined into the queue's
    /// inlinable accessors crashes the Swift 6.3 optimizer.)
    mutating func drain(_ pool: PagePool) -> Int {
        let reclaimed = pendingReplacements
        for index in 0..<pendingReplacements {
            pool.free(Fragment(offset: replacements[index], length: 0))
        }
        pendingReplacements = 0
        replacements.deallocate()
        for index in 0..<recycledCount {
            pool.free(Fragment(offset: recycled[index], length: UInt32(truncatingIfNeeded: fragmentSize)))
        }
        recycledCount = 0
        recycled.deallocate()
        cache.drain()
        slots?.drainAll()
        return reclaimed
    }

    var currentPage: Page? { cache.currentPage }
    var cacheStatistics: PageFragCache.Statistics { cache.statistics }
    var slotStatistics: RxBufferSlots.Statistics? {
        mutating get { slots?.statistics }
    }
}
