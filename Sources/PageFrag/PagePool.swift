// A page pool owns one memory region (the future AF_XDP UMEM) and carves it into pages of
// 4 KiB << order, each with one reference count, the way the kernel's page allocator and
// `struct page` array serve `page_frag_alloc`. Fragment caches take whole pages from it and
// carve fragments locally; `free` gives one fragment's reference back from any thread, and
// the last reference returns the page to the free lists.
//
// Hot path: `free` (one atomic decrement). Slow path, under a lock: taking and returning
// whole pages, the census.

import Logging
import Synchronization
import SystemCalls

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One memory region (the future AF_XDP UMEM) carved into pages of 4 KiB << order, each with
/// one reference count, as the kernel's page allocator serves `page_frag_alloc`.
///
/// Fragment caches and descriptor slots take whole pages and carve fragments from them locally;
/// ``free(_:)`` gives one fragment's reference back from any thread with one atomic decrement,
/// and the last reference returns the page to the free lists. Taking and returning pages, and
/// the census, take a lock: the slow path, once per page.
public final class PagePool: @unchecked Sendable {
    // Unchecked: all mutable state is either behind `lock` or in atomics in the page table.

    /// Pages are built from 4 KiB units: UMEM addresses map to page-table entries by `>> 12`.
    public static let unitShift = 12
    /// The size of a page-table unit, 4 KiB: the smallest page.
    public static let unitSize = 1 << unitShift
    /// The largest page order the pool supports (4 MiB pages).
    public static let maxSupportedOrder = 10

    /// What the pool was made with.
    public let configuration: Configuration
    /// Start of the region; fragment offsets are relative to it.
    public let base: UnsafeMutableRawPointer
    /// Size of the region in bytes (the configured size rounded up to whole top-order pages).
    public let size: Int
    /// What backs the region after fallback: 2 MiB hugepages or 4 KiB pages.
    public let backing: ResolvedBacking
    /// Fragments never cross a multiple of this many bytes (0: no restriction). Non-zero only
    /// when the kernel would reject a crossing buffer: zero-copy mode needs each buffer in
    /// physically contiguous memory, which only the backing page guarantees.
    public let fragmentBoundary: Int
    /// The order of the largest pages (the order caches prefer by default).
    public let maxOrder: Int

    @usableFromInline let table: PageTable
    @usableFromInline let tracker: FragmentTracker?
    private let lock: LockedValue<BuddyAllocator>
    private let logger: Logger

    /// Maps the region and puts every page in the free lists.
    ///
    /// With `.automatic` backing, 2 MiB hugepages are used when the system has enough free;
    /// otherwise the pool falls back to 4 KiB pages and logs why.
    public init(configuration: Configuration, logger: Logger) throws(PagePoolError) {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        maxOrder = configuration.pageOrder

        let topPageSize = Self.unitSize << configuration.pageOrder
        let mapping = try Self.map(configuration: configuration, topPageSize: topPageSize, logger: logger)
        base = mapping.address
        size = mapping.size
        backing = mapping.backing
        fragmentBoundary = configuration.bufferMode == .zeroCopy && mapping.backing.pageSize < topPageSize
            ? mapping.backing.pageSize : 0

        table = PageTable(unitCount: size >> Self.unitShift)
        tracker = configuration.tracksFragments ? FragmentTracker(regionSize: size) : nil
        lock = LockedValue(BuddyAllocator(table: table, maxOrder: configuration.pageOrder))
        logger.debug(
            "page pool ready",
            metadata: [
                "size": "\(size)", "backing": "\(backing)", "pageOrder": "\(maxOrder)",
                "fragmentBoundary": "\(fragmentBoundary)", "tracksFragments": "\(tracker != nil)",
            ])
    }

    deinit {
        let census = census()
        if census.isQuiescent {
            try? SystemCall.munmap(base, length: size)
            table.deallocate()
            tracker?.deallocate()
        } else {
            // Memory still referenced by fragments may still be in the kernel's hands (a fill or
            // TX ring): unmapping it would let the kernel write into whatever is mapped next.
            logger.error(
                "page pool dropped with references outstanding; leaking its region rather than unmapping memory in use",
                metadata: ["census": "\(census)"])
        }
    }

    // MARK: Fragments (any thread)

    /// Gives back the reference `fragment` holds on its page: `page_frag_free`. Callable from
    /// any thread; the last reference on a page its holder released returns the page.
    @inlinable
    public func free(_ fragment: Fragment) {
        let unit = Int(truncatingIfNeeded: fragment.offset &>> UInt64(Self.unitShift))
        precondition(unit < table.unitCount, "free of \(fragment): offset outside the pool's region")
        let page = table.page(containing: unit)
        assert(
            Int(fragment.offset - page.offset) + Int(fragment.length) <= page.size,
            "free of \(fragment): it does not fit in \(page)")
        tracker?.markFreed(fragment)
        // Release: our writes to the fragment happen before whoever reuses the page.
        let remaining = table.referenceCounts[page.index].subtract(1, ordering: .releasing).newValue
        if remaining <= 0 { lastReferenceDropped(page, remaining: remaining, by: "free of \(fragment)") }
    }

    // MARK: Pages (for fragment caches and descriptor-level holders)

    /// Takes a free page of exactly `order` and gives it `references` references, all owned by
    /// the caller (its bias). Returns nil when no page of that order can be had.
    public func takePage(order: Int, references: Int) -> Page? {
        precondition(order >= 0 && order <= maxOrder, "page order \(order) outside 0...\(maxOrder)")
        precondition(references > 0, "a page is taken with at least one reference")
        guard let page = lock.withLock({ $0.allocate(order: order) }) else { return nil }
        assert(table.referenceCounts[page.index].load(ordering: .relaxed) == 0)
        // The page was free, so nobody else can see its count: a plain store is enough.
        table.referenceCounts[page.index].store(references, ordering: .relaxed)
        table.holderBias[page.index].store(references, ordering: .relaxed)
        table.setState(.held, ofHead: page.index)
        return page
    }

    /// Gives back `references` references on `page` in one atomic operation, and returns the
    /// page to the free lists if they were the last: `__page_frag_cache_drain`. A holder calls
    /// it once to let go of its whole remaining bias.
    public func drain(_ page: Page, references: Int) {
        if subtractAndTest(page, references: references) { returnPage(page) }
    }

    /// Gives back `references` references held by the page's holder, in one atomic operation.
    ///
    /// Returns true when they were the last: every fragment has come home and the caller owns
    /// the page alone; it must then either `resetReferences` (reuse in place) or `returnPage`.
    /// Returns false when fragments are still out: the page is now released, and the last
    /// `free` returns it.
    public func subtractAndTest(_ page: Page, references: Int) -> Bool {
        precondition(references > 0, "drain of \(page) with \(references) references")
        // Marked released before the subtraction: once it lands, a concurrent last `free` may
        // return the page, and must not find it still marked as held.
        table.setState(.released, ofHead: page.index)
        table.holderBias[page.index].store(0, ordering: .relaxed)
        // Acquire-release: on the last reference, every free's writes are visible to the reuser.
        let remaining = table.referenceCounts[page.index]
            .subtract(references, ordering: .acquiringAndReleasing).newValue
        precondition(remaining >= 0, "\(page): \(references) references given back but only \(remaining + references) were held")
        if remaining == 0 {
            table.setState(.held, ofHead: page.index)
            return true
        }
        return false
    }

    /// Sets the count of a page the caller owns alone (after `subtractAndTest` returned true)
    /// to a fresh bias, to reuse it in place without a trip through the free lists.
    /// A holder that owns every reference on its page (count equal to its bias) may also reset
    /// it, to top its bias up.
    public func resetReferences(_ page: Page, to references: Int) {
        precondition(references > 0)
        table.referenceCounts[page.index].store(references, ordering: .relaxed)
        table.holderBias[page.index].store(references, ordering: .relaxed)
        table.setState(.held, ofHead: page.index)
    }

    /// Returns a page with no references left (after `subtractAndTest` returned true).
    public func returnPage(_ page: Page) {
        assert(table.referenceCounts[page.index].load(ordering: .relaxed) == 0, "\(page) returned while referenced")
        lock.withLock { $0.free(page) }
    }

    /// Adds references to a page the caller holds (a descriptor-level holder topping up its
    /// bias before it runs out, as i40e does with `page_ref_add`).
    public func addReferences(_ page: Page, _ references: Int) {
        precondition(references > 0)
        table.referenceCounts[page.index].add(references, ordering: .relaxed)
    }

    /// The page's reference count now: bias plus outstanding fragments while it is held.
    /// A snapshot; a holder deciding on reuse takes it before handing a fragment on.
    @inlinable
    public func referenceCount(of page: Page) -> Int {
        table.referenceCounts[page.index].load(ordering: .acquiring)
    }

    /// The page that holds the byte at `offset`.
    @inlinable
    public func page(containing offset: UInt64) -> Page {
        let unit = Int(truncatingIfNeeded: offset &>> UInt64(Self.unitShift))
        precondition(unit < table.unitCount, "offset \(offset) outside the pool's region")
        return table.page(containing: unit)
    }

    /// Mirrors a holder's bias into the page table for the census (a relaxed store, no RMW).
    @inlinable
    func publishBias(_ bias: Int, of page: Page) {
        table.holderBias[page.index].store(bias, ordering: .relaxed)
    }

    // The count went to zero (the page comes home) or below (a caller bug): rare by design.
    @usableFromInline
    @inline(never)
    func lastReferenceDropped(_ page: Page, remaining: Int, by what: @autoclosure () -> String) {
        precondition(remaining == 0, "\(what()): \(page) has \(remaining) references, below zero (double free?)")
        precondition(table.state(ofHead: page.index) == .released, "\(what()): last reference of a \(table.state(ofHead: page.index)) \(page)")
        // Acquire what every earlier free released before the page is reused. An acquire load
        // of the count (which reads our own decrement, the end of the release sequence) does
        // what a fence would, and ThreadSanitizer understands it; it does not model fences.
        _ = table.referenceCounts[page.index].load(ordering: .acquiring)
        returnPage(page)
    }

    // MARK: Accounting

    /// Pages by state and outstanding fragments, now. Exact when no thread is allocating or
    /// freeing; a consistent-enough snapshot otherwise (each page is read once).
    public func census() -> PoolCensus {
        lock.withLock { buddy in
            var census = PoolCensus(totalBytes: size, freeBytes: buddy.freeUnits << Self.unitShift)
            census.freePagesByOrder = buddy.freeBlocks
            var unit = 0
            while unit < table.unitCount {
                let page = Page(index: unit, order: Int(table.orders[unit]))
                unit += 1 << page.order
                let state = table.state(ofHead: page.index)
                guard state != .free else { continue }
                let count = table.referenceCounts[page.index].load(ordering: .relaxed)
                let bias = state == .held ? table.holderBias[page.index].load(ordering: .relaxed) : 0
                census.record(PoolCensus.PageRecord(page: page, state: state, references: count, holderBias: bias))
            }
            return census
        }
    }

    /// Proves that every fragment came home and every page is back in the free lists; throws a
    /// report naming what is still out otherwise.
    public func verifyQuiescent() throws(LeakReport) {
        let census = census()
        guard census.isQuiescent else { throw LeakReport(census: census) }
        if let tracker {
            let live = tracker.liveCount()
            guard live == 0 else { throw LeakReport(census: census, trackerLiveFragments: live) }
        }
    }

    /// Waits until every fragment has come home (page_pool's in-flight wait): polls the census,
    /// logs a warning naming what is still out about once a second, and gives up after
    /// `timeout`, returning the report instead of pretending the memory is free. The caller
    /// must then keep the pool (and its region) alive: the fragments still out may be in use.
    public func waitUntilQuiescent(timeout: Duration, poll: Duration = .milliseconds(10)) -> LeakReport? {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var nextWarning = clock.now + .seconds(1)
        while true {
            do {
                try verifyQuiescent()
                return nil
            } catch {
                let now = clock.now
                if now >= deadline {
                    logger.error("page pool still has fragments out; keeping its memory", metadata: ["report": "\(error)"])
                    return error
                }
                if now >= nextWarning {
                    logger.warning("waiting for fragments to come home", metadata: ["census": "\(error.census)"])
                    nextWarning = now + .seconds(1)
                }
            }
            let pause = poll.components
            usleep(useconds_t(pause.seconds * 1_000_000 + pause.attoseconds / 1_000_000_000_000))
        }
    }

    /// Live fragments according to the fragment tracker (nil when tracking is off): a count
    /// kept apart from the reference counts, for cross-checking them in tests.
    public func trackedLiveFragments() -> Int? { tracker?.liveCount() }
}

extension PagePool {
    struct Mapping {
        var address: UnsafeMutableRawPointer
        var size: Int
        var backing: ResolvedBacking
    }

    /// Maps the region, populated up front: the kernel pins UMEM pages at registration anyway,
    /// and a page fault on the data path is exactly what a pool exists to avoid.
    static func map(configuration: Configuration, topPageSize: Int, logger: Logger) throws(PagePoolError) -> Mapping {
        let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE
        if configuration.backing != .smallPages {
            let hugeSize = ResolvedBacking.hugePages.pageSize
            let size = roundUp(configuration.size, to: max(topPageSize, hugeSize))
            let hugeFlags = flags | MAP_HUGETLB | (21 << MAP_HUGE_SHIFT)  // MAP_HUGE_2MB
            do {
                let address = try SystemCall.mmap(
                    length: size, protection: PROT_READ | PROT_WRITE, flags: hugeFlags,
                    context: "page pool of \(size) bytes on 2 MiB hugepages")
                return Mapping(address: address, size: size, backing: .hugePages)
            } catch {
                if configuration.backing == .hugePages { throw .mapping(error) }
                logger.notice(
                    "no 2 MiB hugepages for the page pool; falling back to 4 KiB pages",
                    metadata: [
                        "size": "\(size)", "error": "\(error.errnoName)",
                        "hint": "reserve hugepages with `sysctl vm.nr_hugepages=\(size / hugeSize)`",
                    ])
            }
        }
        let size = roundUp(configuration.size, to: topPageSize)
        do {
            let address = try SystemCall.mmap(
                length: size, protection: PROT_READ | PROT_WRITE, flags: flags,
                context: "page pool of \(size) bytes on 4 KiB pages")
            return Mapping(address: address, size: size, backing: .smallPages)
        } catch {
            throw .mapping(error)
        }
    }
}

@inlinable
func roundUp(_ value: Int, to multiple: Int) -> Int {
    (value + multiple - 1) / multiple * multiple
}
