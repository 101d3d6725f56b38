// Where a queue's fill-ring buffers come from, and where received buffers go back to: either
// a ring-level fragment cache (fragments sized from the MTU, packed at any offset in the
// cache's pages: the most buffers per MiB of UMEM) or descriptor-level slots (one half-page
// buffer per fill slot, flipped and reposted on the same page while the application gives
// buffers back quickly: the hottest cache). This is the only code that knows both; the queue
// asks it for buffers and hands buffers back without asking which it is.
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
    let alignment: Int
    /// Fill-ring slots kept empty: the ring holds at most `size - unposted` buffers (see
    /// `init`). 0 where the whole ring is used.
    @usableFromInline let unposted: Int

    /// `limit`: the most buffers on the fill ring at once (at most its size). In copy mode the
    /// kernel takes a fill buffer only for a frame it is about to put on the RX ring, so a
    /// buffer beyond what the RX ring has free can never be used before the application
    /// consumes: more fill buffers than the RX ring has slots buy nothing there, and every
    /// extra buffer in flight is one more destination the kernel's copy finds cold in its
    /// cache. A zero-copy driver takes fill buffers ahead, into the NIC's own ring: there the
    /// whole ring is used.
    init(strategy: FillStrategy, pool: PagePool, fillRingSize: Int, limit: Int, batchSize: Int, fragmentSize: Int, alignment: Int) {
        precondition(limit > 0 && limit <= fillRingSize, "fill limit \(limit) must be 1...\(fillRingSize)")
        self.strategy = strategy
        usesSlots = strategy == .descriptorSlots
        self.fragmentSize = fragmentSize
        self.alignment = alignment
        unposted = fillRingSize - limit
        cache = PageFragCache(pool: pool)
        slots = usesSlots ? RxBufferSlots(pool: pool, count: limit, fragmentSize: fragmentSize) : nil
        replacements = .allocate(capacity: limit + max(batchSize, 1))
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
        counters.fillPosted &+= UInt64(written)
    }

    /// A frame landed in the buffer at `start`: that buffer, now the application's. Slots
    /// decide here whether the page flips (before anything can free the half) and queue the
    /// replacement for `replenish`.
    @inlinable
    mutating func received(at start: UInt64) -> Fragment {
        guard usesSlots, let (received, replacement) = slots?.received(at: start) else {
            return Fragment(offset: start, length: UInt32(truncatingIfNeeded: fragmentSize))
        }
        if let replacement {
            replacements[pendingReplacements] = replacement.offset
            pendingReplacements &+= 1
        }
        return received
    }

    /// Gives a buffer back on the owning thread: to the slot's or the cache's bias when its
    /// page is still theirs (no atomic), else to the pool.
    @inlinable
    mutating func release(_ fragment: Fragment) {
        if usesSlots {
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
        let wanted = unposted == 0 ? fill.size : fill.freeSlots(upTo: fill.size) &- unposted
        guard wanted > 0 else { return 0 }
        let batch = fill.reserve(upTo: wanted)
        var written = 0
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
        counters.fillPosted &+= UInt64(truncatingIfNeeded: batch.count)
        pendingReplacements = count - batch.count
        for index in 0..<pendingReplacements {
            replacements[index] = replacements[batch.count + index]
        }
        return batch.count
    }

    /// Teardown, once: replacements never posted go back to the pool (returned: how many), then
    /// the cache and the slots give back their biases with one call per page. (No deinit: the
    /// queue's stop always ends here, and a deinit of this type inlined into the queue's
    /// inlinable accessors crashes the Swift 6.3 optimizer.)
    mutating func drain(_ pool: PagePool) -> Int {
        let reclaimed = pendingReplacements
        for index in 0..<pendingReplacements {
            pool.free(Fragment(offset: replacements[index], length: 0))
        }
        pendingReplacements = 0
        replacements.deallocate()
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
