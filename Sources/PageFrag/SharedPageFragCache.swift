// The shareable flavour of the fragment cache, the kernel's `netdev_alloc_cache`: the same
// fragments, bias and drain as `PageFragCache`, callable from any thread. Where the kernel
// disables interrupts around the cache, this takes a lock; it serves the threads that are not
// a queue's poll thread (control plane, tests, a worker), never the per-packet path.

import SystemCalls

/// A fragment cache that any thread may call: a ``PageFragCache`` behind a lock, the kernel's
/// `netdev_alloc_cache`.
///
/// It serves the threads that are not a queue's poll thread (control plane, tests, a worker),
/// never the per-packet path.
public final class SharedPageFragCache: Sendable {
    private let cache: LockedValue<PageFragCache>
    /// The pool the cache takes its pages from.
    public let pool: PagePool

    /// A cache over `pool` that prefers pages of `preferredOrder` (default: the pool's top order)
    /// and falls back down to `minimumOrder`.
    public init(pool: PagePool, preferredOrder: Int? = nil, minimumOrder: Int = 0) {
        self.pool = pool
        cache = LockedValue(PageFragCache(pool: pool, preferredOrder: preferredOrder, minimumOrder: minimumOrder))
    }

    /// See `PageFragCache.alloc(size:alignment:)`.
    public func alloc(size: Int, alignment: Int = 1) -> Fragment? {
        cache.withLock { $0.alloc(size: size, alignment: alignment) }
    }

    /// See `PageFragCache.drain()`.
    public func drain() {
        cache.withLock { $0.drain() }
    }

    /// What the cache did with pages so far.
    public var statistics: PageFragCache.Statistics {
        cache.withLock { $0.statistics }
    }

    /// The page in hand and the references the cache still owns on it.
    public var currentPage: (page: Page, bias: Int)? {
        cache.withLock { cache in cache.currentPage.map { ($0, cache.bias) } }
    }
}
