// A page-fragment cache hands out arbitrary-length, arbitrary-offset fragments from a page it
// holds, the kernel's `page_frag_cache` for one owner: the NAPI flavour, used by a queue's own
// poll thread with no lock and no atomic per fragment.
//
// The bias trick: when the cache takes a page, it sets the page's reference count to a large
// `bias` and keeps the same number in `pagecnt_bias`, as if it had taken that many references
// up front. Handing out a fragment moves one of those references to the fragment by
// decrementing the local `pagecnt_bias`, which nobody else reads; so at any time
// `page count == pagecnt_bias + fragments outstanding`. Frees decrement the shared count from
// any thread. When the page is used up, the cache subtracts its remaining bias in one atomic
// operation: a result of zero means every fragment already came home, and the page is reused
// in place; otherwise the last `free` returns it to the pool.

/// A single-owner fragment cache. Not `Sendable` and not copyable: one thread owns it, and a
/// copy would hold the same bias twice.
public struct PageFragCache: ~Copyable {
    /// The references a cache takes on each page up front: more than the number of fragments
    /// any page can yield (one byte each in a 4 MiB page), so the bias never runs out.
    public static let bias = 1 << 32

    /// The pool the cache takes its pages from.
    public let pool: PagePool
    /// The order of the pages the cache asks for first.
    public let preferredOrder: Int
    /// The smallest order it falls back to when no page of the preferred order is free.
    public let minimumOrder: Int

    @usableFromInline let holderBias: UnsafeMutablePointer<Atomic<Int>>
    @usableFromInline let tracker: FragmentTracker?
    @usableFromInline let boundary: Int

    // The page in hand. `pageSize` is 0 when there is none, so the fast path's bounds check
    // fails without a separate test.
    @usableFromInline var pageIndex = -1
    @usableFromInline var pageOrder = 0
    @usableFromInline var pageOffset: UInt64 = 0
    @usableFromInline var pageSize = 0
    /// Next free byte in the page.
    @usableFromInline var offset = 0
    /// `pagecnt_bias`: references on the page this cache still owns.
    @usableFromInline var pageBias = 0

    /// What the cache did with pages so far.
    public var statistics = Statistics()

    /// A cache over `pool` that prefers pages of `preferredOrder` (default: the pool's top
    /// order) and falls back down to `minimumOrder`.
    public init(pool: PagePool, preferredOrder: Int? = nil, minimumOrder: Int = 0) {
        let preferred = preferredOrder ?? pool.maxOrder
        precondition((0...pool.maxOrder).contains(preferred), "preferred order \(preferred) outside 0...\(pool.maxOrder)")
        precondition((0...preferred).contains(minimumOrder), "minimum order \(minimumOrder) outside 0...\(preferred)")
        self.pool = pool
        self.preferredOrder = preferred
        self.minimumOrder = minimumOrder
        holderBias = pool.table.holderBias
        tracker = pool.tracker
        boundary = pool.fragmentBoundary
    }

    deinit {
        if pageIndex >= 0 { pool.drain(Page(index: pageIndex, order: pageOrder), references: pageBias) }
    }

    /// The page the cache holds now, if any.
    public var currentPage: Page? { pageIndex >= 0 ? Page(index: pageIndex, order: pageOrder) : nil }
    /// References on the current page that the cache still owns (`pagecnt_bias`).
    public var bias: Int { pageIndex >= 0 ? pageBias : 0 }

    /// Carves a fragment of `size` bytes whose offset is a multiple of `alignment` (a power of
    /// two, at most 4 KiB): `page_frag_alloc_align`.
    ///
    /// Returns nil, leaving the cache as it was, when the fragment can never fit (larger than a
    /// page of the preferred order, or than the pool's fragment boundary); returns nil when no
    /// page of a fitting order is free. `statistics` tells the two apart.
    @inlinable
    public mutating func alloc(size: Int, alignment: Int = 1) -> Fragment? {
        precondition(size > 0, "fragment size \(size) must be positive")
        precondition(
            alignment > 0 && alignment & (alignment &- 1) == 0 && alignment <= PagePool.unitSize,
            "alignment \(alignment) must be a power of two up to \(PagePool.unitSize)")
        let alignMask = alignment &- 1
        var start = (offset &+ alignMask) & ~alignMask
        if boundary != 0 {
            // A fragment larger than the boundary can never fit; the slow path says so.
            guard size <= boundary else { return refillAndAlloc(size: size, alignment: alignment) }
            start = Self.skippingBoundary(start, size: size, boundary: boundary)
        }
        guard start &+ size <= pageSize else { return refillAndAlloc(size: size, alignment: alignment) }
        return carve(at: start, size: size)
    }

    /// Gives a fragment back from the cache's own thread. A fragment of the page in hand hands
    /// its reference back to the bias, with no atomic operation: the page's count already
    /// includes it, so `count == bias + outstanding` still holds (page_pool's direct recycling
    /// from NAPI context is the same idea). Any other fragment takes the pool's atomic `free`.
    @inlinable
    public mutating func free(_ fragment: Fragment) {
        // Unsigned wrap-around makes this one comparison; `pageSize` is 0 when no page is held.
        guard fragment.offset &- pageOffset < UInt64(truncatingIfNeeded: pageSize) else {
            pool.free(fragment)
            return
        }
        tracker?.markFreed(fragment)
        pageBias &+= 1
        holderBias[pageIndex].store(pageBias, ordering: .relaxed)
    }

    /// Gives back every reference the cache still owns on its page, in one call
    /// (`__page_frag_cache_drain`), and forgets the page. Fragments already handed out stay
    /// valid; the last of them to be freed returns the page.
    public mutating func drain() {
        guard pageIndex >= 0 else { return }
        pool.drain(Page(index: pageIndex, order: pageOrder), references: pageBias)
        statistics.drains += 1
        forgetPage()
    }

    // MARK: Internals

    /// Moves the start past a boundary the fragment would otherwise cross.
    @inlinable
    static func skippingBoundary(_ start: Int, size: Int, boundary: Int) -> Int {
        let mask = boundary &- 1
        if (start ^ (start &+ size &- 1)) & ~mask == 0 { return start }
        return (start &+ mask) & ~mask
    }

    @inlinable
    mutating func carve(at start: Int, size: Int) -> Fragment {
        offset = start &+ size
        pageBias &-= 1
        holderBias[pageIndex].store(pageBias, ordering: .relaxed)
        let fragmentOffset = pageOffset &+ UInt64(truncatingIfNeeded: start)
        tracker?.markAllocated(fragmentOffset)
        assert(pageBias > 0, "bias ran out on page \(pageIndex)")
        return Fragment(offset: fragmentOffset, length: UInt32(truncatingIfNeeded: size))
    }

    // The page in hand is used up (or there is none): the once-per-page path.
    @usableFromInline
    @inline(never)
    mutating func refillAndAlloc(size: Int, alignment: Int) -> Fragment? {
        guard size <= PagePool.unitSize << preferredOrder, boundary == 0 || size <= boundary else {
            // It would never fit. Keep the page in hand: dropping it would only waste the rest
            // of it and make the pool's pressure worse.
            statistics.failedTooLarge += 1
            return nil
        }
        if pageIndex >= 0 {
            let page = Page(index: pageIndex, order: pageOrder)
            // Every fragment already home (the owner freed them into the bias, or the last
            // remote free landed): no one else holds a reference, so no one else can change the
            // count, and reuse needs no atomic read-modify-write. The acquire load makes the
            // remote frees' writes visible before the bytes are handed out again.
            if pageOrder == preferredOrder, pool.referenceCount(of: page) == pageBias {
                if pageBias < Self.bias / 2 {
                    pool.resetReferences(page, to: Self.bias)
                    pageBias = Self.bias
                }
                offset = 0
                statistics.pagesReusedInPlace += 1
                return carve(at: 0, size: size)
            }
            // Give back the unused bias in one atomic operation.
            if pool.subtractAndTest(page, references: pageBias) {
                // Every fragment came home: the page is ours alone.
                if pageOrder == preferredOrder {
                    pool.resetReferences(page, to: Self.bias)
                    pageBias = Self.bias
                    offset = 0
                    statistics.pagesReusedInPlace += 1
                    return carve(at: 0, size: size)
                }
                // A fallback page goes back, so the cache climbs back to its preferred order.
                pool.returnPage(page)
            } else {
                statistics.pagesReleasedBusy += 1
            }
            forgetPage()
        }
        for order in stride(from: preferredOrder, through: minimumOrder, by: -1) where PagePool.unitSize << order >= size {
            guard let page = pool.takePage(order: order, references: Self.bias) else { continue }
            pageIndex = page.index
            pageOrder = page.order
            pageOffset = page.offset
            pageSize = page.size
            pageBias = Self.bias
            offset = 0
            statistics.pagesTaken += 1
            if order < preferredOrder { statistics.fallbackPages += 1 }
            return carve(at: 0, size: size)
        }
        statistics.failedNoPage += 1
        return nil
    }

    mutating func forgetPage() {
        pageIndex = -1
        pageSize = 0
        offset = 0
        pageBias = 0
    }
}

extension PageFragCache {
    /// What a fragment cache did with pages, as drivers count it: once-per-page events only
    /// (per-fragment counts belong to the ring that moves the fragments, per batch). Plain
    /// integers owned by the cache's thread.
    public struct Statistics: Sendable, Equatable {
        /// Pages taken from the pool.
        public var pagesTaken = 0
        /// Of those, pages of a smaller order than preferred.
        public var fallbackPages = 0
        /// Used-up pages whose fragments had all come home, reused without the pool.
        public var pagesReusedInPlace = 0
        /// Used-up pages left to their last `free` because fragments were still out.
        public var pagesReleasedBusy = 0
        /// Requests that can never fit a page of the preferred order (or the boundary).
        public var failedTooLarge = 0
        /// Requests that found no free page.
        public var failedNoPage = 0
        /// Times ``PageFragCache/drain()`` gave a page's remaining bias back.
        public var drains = 0

        /// All counts at zero.
        public init() {}
    }
}

import Synchronization
