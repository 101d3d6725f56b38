// Descriptor-level buffer reuse, as i40e and ixgbe keep their `rx_buffer`s: each slot of a
// receive ring owns one page, split in two halves, and holds its own bias of references on it.
// One half is posted to the ring; when a frame lands in it, that half goes up to the
// application with one reference, and if the page has no other holder (the other half came
// back), the slot flips to the other half and posts it at once, without touching the pool:
// the same page stays hot in the cache. If the application still holds the other half, the
// slot lets the page go with one drain call (the last free returns it) and takes a new one.
//
// The reuse decision reads the page's count before the received half is handed to anything
// that might free it: deciding after would let a synchronous free make a busy page look idle
// (the premature-reuse bug fixed in i40e, ixgbe and ice in 2020).
//
// Single owner (the queue's poll thread).

/// Descriptor-level buffer reuse, as i40e and ixgbe keep their `rx_buffer`s: each slot of a
/// receive ring owns one page split in two halves, and holds its own bias of references on it.
///
/// One half is posted; when a frame lands in it and the other half has come back, the slot
/// flips to the other half and posts it at once, without the pool. If the application still
/// holds the other half, the slot lets the page go with one drain call and takes a new one. One
/// thread owns the slots: the queue's poll thread.
public struct RxBufferSlots: ~Copyable {
    /// References a slot takes on its page at once, and tops up to: frees on the owning thread
    /// hand one back, every posted half takes one.
    public static let bias = Int(UInt16.max)

    @usableFromInline struct Slot {
        @usableFromInline var page: Page
        @usableFromInline var bias: Int
        /// Offset inside the page of the half posted now (0 or half the page).
        @usableFromInline var postedHalf: Int

        @usableFromInline
        init(page: Page, bias: Int, postedHalf: Int) {
            self.page = page
            self.bias = bias
            self.postedHalf = postedHalf
        }
    }

    /// The pool the slots take their pages from.
    public let pool: PagePool
    /// Fragment length (each half holds one), at most half a page.
    public let fragmentSize: Int
    /// The order of each slot's page.
    public let pageOrder: Int
    @usableFromInline let slots: UnsafeMutablePointer<Slot>
    /// How many slots there are (a queue makes one per fill-ring entry).
    public let count: Int
    /// The slot that owns each page of the pool now, by page-table unit; -1 for none.
    @usableFromInline let slotOfUnit: UnsafeMutablePointer<Int32>
    let unitCount: Int
    /// What the slots did with pages so far.
    public var statistics: Statistics { counters }
    @usableFromInline var counters = Statistics()

    /// What descriptor slots did with pages: taken, reused in place, given up.
    public struct Statistics: Sendable, Equatable {
        /// Pages taken from the pool.
        public var pagesAllocated = 0
        /// Received halves whose page was flipped and reposted without the pool.
        public var pagesReused = 0
        /// Pages given up because the application still held the other half.
        public var pagesBusy = 0
        /// Pages given up for another reason (the slots drained).
        public var pagesWaived = 0
        /// Times a slot found no page in the pool (its half is not reposted).
        public var allocationFailures = 0
        /// All counts at zero.
        public init() {}
    }

    /// `count` slots over `pool`, each on a page of `pageOrder` split in two halves that hold
    /// `fragmentSize` bytes.
    public init(pool: PagePool, count: Int, fragmentSize: Int, pageOrder: Int = 0) {
        precondition(count > 0)
        precondition(fragmentSize > 0 && fragmentSize <= (PagePool.unitSize << pageOrder) / 2,
            "a \(fragmentSize)-byte fragment does not fit half a page of order \(pageOrder)")
        self.pool = pool
        self.count = count
        self.fragmentSize = fragmentSize
        self.pageOrder = pageOrder
        slots = .allocate(capacity: count)
        unitCount = pool.size >> PagePool.unitShift
        slotOfUnit = .allocate(capacity: unitCount)
        slotOfUnit.initialize(repeating: -1, count: unitCount)
    }

    deinit {
        for index in 0..<initialized where slots[index].page.index >= 0 {
            pool.drain(slots[index].page, references: slots[index].bias)
        }
        slots.deallocate()
        slotOfUnit.deallocate()
    }

    /// Slots started (each owns a page, or an empty page index after a failed replacement).
    @usableFromInline var initialized = 0

    /// Gives every slot its page and returns the fragments to post, one per slot (fewer when
    /// the pool runs dry). Call once.
    public mutating func start(_ post: (Fragment) -> Void) {
        precondition(initialized == 0, "slots already started")
        for index in 0..<count {
            guard let page = pool.takePage(order: pageOrder, references: Self.bias) else {
                counters.allocationFailures += 1
                break
            }
            counters.pagesAllocated += 1
            (slots + index).initialize(to: Slot(page: page, bias: Self.bias, postedHalf: 0))
            slotOfUnit[page.index] = Int32(index)
            initialized += 1
            post(takePosted(index))
        }
    }

    /// A frame landed in the half starting at `offset`. Returns that half (now the
    /// application's, with one reference) and the slot's replacement to post, if any.
    @inlinable
    public mutating func received(at offset: UInt64) -> (received: Fragment, replacement: Fragment?) {
        let page = pool.page(containing: offset)
        let index = Int(slotOfUnit[page.index])
        precondition(index >= 0, "no slot owns the page of \(offset)")
        // Before the half goes anywhere that could free it: who else holds the page?
        let snapshot = pool.referenceCount(of: page)
        let received = Fragment(offset: offset, length: UInt32(truncatingIfNeeded: fragmentSize))
        let others = snapshot - slots[index].bias - 1  // references beyond ours and this half
        if others <= 0 {
            // The other half is home: flip to it, same page.
            slots[index].postedHalf ^= pageHalf
            counters.pagesReused += 1
            return (received, takePosted(index))
        }
        counters.pagesBusy += 1
        return (received, replacePage(of: index))
    }

    /// Gives a fragment back on the owning thread: to its slot's bias when the slot still
    /// owns its page (no atomic), else to the pool.
    @inlinable
    public mutating func release(_ fragment: Fragment) {
        let page = pool.page(containing: fragment.offset)
        let index = Int(slotOfUnit[page.index])
        if index >= 0, slots[index].page == page {
            pool.tracker?.markFreed(fragment)
            slots[index].bias += 1
            pool.publishBias(slots[index].bias, of: page)
        } else {
            pool.free(fragment)
        }
    }

    /// Every slot gives back its bias, one drain call per page; posted halves and halves the
    /// application holds keep their pages alive until they are freed.
    public mutating func drainAll() {
        for index in 0..<initialized where slots[index].page.index >= 0 {
            let page = slots[index].page
            slotOfUnit[page.index] = -1
            pool.drain(page, references: slots[index].bias)
            counters.pagesWaived += 1
        }
        initialized = 0
    }

    // MARK: Internals

    @usableFromInline
    var pageHalf: Int { (PagePool.unitSize << pageOrder) / 2 }

    /// The slot's posted half, with the reference it takes from the bias (topped up first when
    /// it runs low, as i40e does with page_ref_add).
    @usableFromInline
    mutating func takePosted(_ index: Int) -> Fragment {
        if slots[index].bias <= 1 {
            pool.addReferences(slots[index].page, Self.bias - 1)
            slots[index].bias += Self.bias - 1
        }
        slots[index].bias -= 1
        let slot = slots[index]
        pool.publishBias(slot.bias, of: slot.page)
        let offset = slot.page.offset + UInt64(slot.postedHalf)
        pool.tracker?.markAllocated(offset)
        return Fragment(offset: offset, length: UInt32(truncatingIfNeeded: fragmentSize))
    }

    // The page is still held elsewhere: let it go in one call, take a new one.
    @usableFromInline
    @inline(never)
    mutating func replacePage(of index: Int) -> Fragment? {
        let old = slots[index].page
        slotOfUnit[old.index] = -1
        pool.drain(old, references: slots[index].bias)
        guard let page = pool.takePage(order: pageOrder, references: Self.bias) else {
            // No page: the slot is empty until teardown; the queue posts one fewer buffer.
            counters.allocationFailures += 1
            slots[index].bias = 0
            slots[index].page = Page(index: -1, order: pageOrder)
            return nil
        }
        counters.pagesAllocated += 1
        slots[index] = Slot(page: page, bias: Self.bias, postedHalf: 0)
        slotOfUnit[page.index] = Int32(index)
        return takePosted(index)
    }
}
