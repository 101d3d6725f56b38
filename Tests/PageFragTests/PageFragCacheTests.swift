import Testing
@testable import PageFrag
import TestSupport

@Suite("PageFragCache")
struct PageFragCacheTests {
    @Test("fragments are packed one after another in the page, each taking one reference")
    func packsFragments() throws {
        let pool = try TestSupport.pool()
        var cache = PageFragCache(pool: pool)
        let a = try unwrap(cache.alloc(size: 100))
        let b = try unwrap(cache.alloc(size: 1792))
        let c = try unwrap(cache.alloc(size: 1))
        let page = try unwrap(cache.currentPage)
        #expect(page.order == 3)
        #expect(a == Fragment(offset: page.offset, length: 100))
        #expect(b.offset == page.offset + 100)
        #expect(c.offset == b.end)
        #expect(cache.bias == PageFragCache.bias - 3)
        #expect(pool.referenceCount(of: page) == cache.bias + 3)
        #expect(pool.census().outstandingFragments == 3)
        for fragment in [a, b, c] { pool.free(fragment) }
        #expect(pool.referenceCount(of: page) == cache.bias)
        cache.drain()
        try pool.verifyQuiescent()
    }

    @Test("the owner's free returns the reference to the bias; a fragment of an older page goes to the pool")
    func ownerFree() throws {
        let pool = try TestSupport.pool()
        var cache = PageFragCache(pool: pool)
        let old = try unwrap(cache.alloc(size: 32000))
        let oldPage = try unwrap(cache.currentPage)
        let current = try unwrap(cache.alloc(size: 1000))
        let page = try unwrap(cache.currentPage)
        #expect(page != oldPage)
        let countBefore = pool.referenceCount(of: page)
        cache.free(current)
        // No atomic on the page: the count is unchanged, the bias took the reference back.
        #expect(pool.referenceCount(of: page) == countBefore)
        #expect(cache.bias == PageFragCache.bias)
        // The old page is released; its fragment takes the pool's path and returns the page.
        cache.free(old)
        #expect(pool.census().releasedPages == 0)
        cache.drain()
        try pool.verifyQuiescent()
    }

    @Test("alignment rounds the start up to a power of two", arguments: [1, 2, 8, 64, 256, 4096])
    func alignment(alignment: Int) throws {
        let pool = try TestSupport.pool()
        var cache = PageFragCache(pool: pool)
        var fragments = [try unwrap(cache.alloc(size: 3))]
        for size in [5, 17, 1000, 2] {
            let fragment = try unwrap(cache.alloc(size: size, alignment: alignment))
            #expect(fragment.offset % UInt64(alignment) == 0)
            #expect(fragment.offset >= fragments.last!.end)
            #expect(fragment.offset - fragments.last!.end < UInt64(alignment))
            fragments.append(fragment)
        }
        for fragment in fragments { pool.free(fragment) }
        cache.drain()
        try pool.verifyQuiescent()
    }

    @Test("a used-up page whose fragments all came home is reused in place")
    func reuseInPlace() throws {
        let pool = try TestSupport.pool()
        var cache = PageFragCache(pool: pool)
        let first = try unwrap(cache.alloc(size: 16384))
        let second = try unwrap(cache.alloc(size: 16384))
        let page = try unwrap(cache.currentPage)
        pool.free(first)
        pool.free(second)
        let third = try unwrap(cache.alloc(size: 100))
        #expect(cache.currentPage == page)
        #expect(third.offset == page.offset)
        #expect(cache.statistics.pagesReusedInPlace == 1)
        #expect(cache.statistics.pagesTaken == 1)
        #expect(pool.referenceCount(of: page) == cache.bias + 1)
        pool.free(third)
        cache.drain()
        try pool.verifyQuiescent()
    }

    @Test("a used-up page with fragments out is left to its last free, and a new page taken")
    func abandonThenLastFree() throws {
        let pool = try TestSupport.pool()
        var cache = PageFragCache(pool: pool)
        let kept = try unwrap(cache.alloc(size: 30000))
        let oldPage = try unwrap(cache.currentPage)
        let next = try unwrap(cache.alloc(size: 4000))
        let newPage = try unwrap(cache.currentPage)
        #expect(newPage != oldPage)
        #expect(cache.statistics.pagesReleasedBusy == 1)
        // The old page is released: its count is exactly its one outstanding fragment.
        #expect(pool.referenceCount(of: oldPage) == 1)
        let census = pool.census()
        #expect(census.releasedPages == 1 && census.heldPages == 1 && census.outstandingFragments == 2)
        pool.free(kept)
        #expect(pool.census().releasedPages == 0)
        pool.free(next)
        cache.drain()
        try pool.verifyQuiescent()
    }

    @Test("drain gives the remaining bias back in one call; outstanding fragments stay valid")
    func drainWithFragmentsOut() throws {
        let pool = try TestSupport.pool()
        var cache = PageFragCache(pool: pool)
        let fragment = try unwrap(cache.alloc(size: 64))
        let page = try unwrap(cache.currentPage)
        cache.drain()
        #expect(cache.currentPage == nil)
        #expect(pool.referenceCount(of: page) == 1)
        #expect(throws: LeakReport.self) { try pool.verifyQuiescent() }
        pool.free(fragment)
        try pool.verifyQuiescent()
        cache.drain()  // nothing held: a no-op
        #expect(cache.statistics.drains == 1)
    }

    @Test("dropping a cache drains it")
    func deinitDrains() throws {
        let pool = try TestSupport.pool()
        do {
            var cache = PageFragCache(pool: pool)
            pool.free(try unwrap(cache.alloc(size: 64)))
            #expect(pool.census().heldPages == 1)
        }
        try pool.verifyQuiescent()
    }

    @Test("when no page of the preferred order is free, the cache falls back, then climbs back")
    func orderFallback() throws {
        let pool = try TestSupport.pool(size: 32768, pageOrder: 3)
        // Hold one 4 KiB page, so no 32 KiB page is left: the largest free block is 16 KiB.
        let blocker = try #require(pool.takePage(order: 0, references: 1))
        var cache = PageFragCache(pool: pool)
        let fragment = try unwrap(cache.alloc(size: 2000))
        #expect(cache.currentPage?.order == 2)
        #expect(cache.statistics.fallbackPages == 1)

        // With the blocker gone, a 32 KiB page can form again as soon as the fallback page
        // comes home; the cache gives it back when it is used up, instead of reusing it.
        pool.drain(blocker, references: 1)
        pool.free(fragment)
        var steps = 0
        while cache.currentPage?.order == 2 {
            pool.free(try unwrap(cache.alloc(size: 4096)))
            steps += 1
            try #require(steps <= 5, "the cache never climbed back to its preferred order")
        }
        #expect(cache.currentPage?.order == 3)
        #expect(cache.statistics.pagesTaken == 2)
        #expect(cache.statistics.pagesReusedInPlace == 0)
        cache.drain()
        try pool.verifyQuiescent()
    }

    @Test("a fragment larger than a preferred page fails cleanly and keeps the page in hand")
    func tooLarge() throws {
        let pool = try TestSupport.pool(pageOrder: 1)
        var cache = PageFragCache(pool: pool)
        let small = try unwrap(cache.alloc(size: 10))
        let page = cache.currentPage
        #expect(cache.alloc(size: 8193) == nil)
        #expect(cache.statistics.failedTooLarge == 1)
        #expect(cache.currentPage == page)
        #expect(cache.bias == PageFragCache.bias - 1)
        let whole = try unwrap(cache.alloc(size: 8192))
        #expect(whole.length == 8192)
        pool.free(small)
        pool.free(whole)
        cache.drain()
        try pool.verifyQuiescent()
    }

    @Test("an exhausted pool makes alloc return nil, and recovers once fragments come home")
    func poolExhaustion() throws {
        let pool = try TestSupport.pool(size: 2 * 32768)
        var cache = PageFragCache(pool: pool)
        var fragments: [Fragment] = []
        while let fragment = cache.alloc(size: 2048) { fragments.append(fragment) }
        #expect(fragments.count == 32)
        #expect(cache.statistics.failedNoPage == 1)
        #expect(pool.census().freeBytes == 0)
        for fragment in fragments { pool.free(fragment) }
        let again = try unwrap(cache.alloc(size: 2048))
        pool.free(again)
        cache.drain()
        try pool.verifyQuiescent()
    }

    @Test("zero-copy on 4 KiB backing: fragments never cross a 4 KiB line")
    func zeroCopyBoundary() throws {
        let pool = try TestSupport.pool(bufferMode: .zeroCopy)
        var cache = PageFragCache(pool: pool)
        var fragments: [Fragment] = []
        for _ in 0..<40 {
            let fragment = try unwrap(cache.alloc(size: 1792))
            #expect(fragment.offset / 4096 == (fragment.end - 1) / 4096)
            fragments.append(fragment)
        }
        // Two 1792-byte buffers fit per 4 KiB, never three.
        #expect(fragments[2].offset % 4096 == 0)
        #expect(cache.alloc(size: 4097) == nil)
        #expect(cache.statistics.failedTooLarge == 1)
        for fragment in fragments { pool.free(fragment) }
        cache.drain()
        try pool.verifyQuiescent()
    }

    @Test("copy mode packs 1792-byte buffers across 4 KiB lines: more per page than 2 KiB frames")
    func copyModePacking() throws {
        let pool = try TestSupport.pool(bufferMode: .copy)
        var cache = PageFragCache(pool: pool)
        var fragments: [Fragment] = []
        while cache.statistics.pagesTaken < 2, let fragment = cache.alloc(size: 1792) { fragments.append(fragment) }
        // 32 KiB / 1792 = 18 fragments in the first page, against 16 frames of 2 KiB.
        #expect(fragments.count - 1 == 18)
        for fragment in fragments { pool.free(fragment) }
        cache.drain()
        try pool.verifyQuiescent()
    }
}
