import Testing
import TestSupport
@testable import PageFrag

/// Seeded random alloc/free/drain sequences against a model of who holds what, checking after
/// every step that `page count == bias + outstanding` for the page in hand, `count ==
/// outstanding` for released pages, that the census and the tracker agree with the model, and
/// that no two live fragments overlap (each carries a byte pattern checked when it is freed).
@Suite("PageFrag randomized invariants")
struct RandomizedInvariantTests {
    @Test("thousands of seeded steps keep every invariant", arguments: [1, 2, 3, 42, 2026] as [UInt64])
    func randomSequence(seed: UInt64) throws {
        var random = SeededGenerator(seed: seed)
        // Small enough that the pool runs dry, caches fall back and pages are left busy.
        let pool = try TestSupport.pool(size: 8 * 32768, pageOrder: 3)
        var cache = PageFragCache(pool: pool)
        var live: [(fragment: Fragment, pattern: UInt8)] = []
        var blockers: [Page] = []
        var steps = 0

        for step in 0..<6000 {
            let roll = Int.random(in: 0..<100, using: &random)
            switch roll {
            case 0..<48:
                let size = Self.randomSize(using: &random)
                let alignment = 1 << Int.random(in: 0...12, using: &random)
                if let fragment = cache.alloc(size: size, alignment: alignment) {
                    #expect(fragment.offset % UInt64(alignment) == 0)
                    #expect(Int(fragment.length) == size)
                    let pattern = UInt8(truncatingIfNeeded: step | 1)
                    pool.fill(fragment, with: pattern)
                    live.append((fragment, pattern))
                }
            case 48..<93 where !live.isEmpty:
                // Half the time the newest fragment (a packet handled at once, which lets pages
                // come home and be reused in place), else any (one held for a while).
                let index = Bool.random(using: &random) ? live.count - 1 : Int.random(in: 0..<live.count, using: &random)
                let entry = live.remove(at: index)
                #expect(pool.holds(entry.fragment, value: entry.pattern), "fragment \(entry.fragment) was overwritten")
                // The owner's free (bias, no atomic) or anyone's free (atomic on the page).
                if Bool.random(using: &random) { cache.free(entry.fragment) } else { pool.free(entry.fragment) }
            case 93..<96:
                cache.drain()
            case 96..<98 where blockers.count < 4:
                // Another holder takes a small page, so the pool fragments and caches fall back.
                if let page = pool.takePage(order: Int.random(in: 0...2, using: &random), references: 3) {
                    blockers.append(page)
                }
            case 98..<100 where !blockers.isEmpty:
                pool.drain(blockers.removeLast(), references: 3)
            default:
                break
            }
            try checkInvariants(pool: pool, cache: cache, live: live.map(\.fragment), blockers: blockers)
            steps += 1
        }
        #expect(steps == 6000)
        #expect(cache.statistics.pagesReusedInPlace > 0)
        #expect(cache.statistics.pagesReleasedBusy > 0)

        for entry in live {
            #expect(pool.holds(entry.fragment, value: entry.pattern))
            pool.free(entry.fragment)
        }
        for page in blockers { pool.drain(page, references: 3) }
        cache.drain()
        try pool.verifyQuiescent()
    }

    /// Mostly packet-sized, sometimes tiny, sometimes larger than a page (which must fail).
    static func randomSize(using random: inout SeededGenerator) -> Int {
        switch Int.random(in: 0..<10, using: &random) {
        case 0: Int.random(in: 1...16, using: &random)
        case 1: Int.random(in: 4096...40000, using: &random)
        default: Int.random(in: 60...2048, using: &random)
        }
    }

    func checkInvariants(
        pool: PagePool, cache: borrowing PageFragCache, live: [Fragment], blockers: [Page]
    ) throws {
        var outstandingByPage: [Page: Int] = [:]
        for fragment in live { outstandingByPage[pool.page(containing: fragment.offset), default: 0] += 1 }

        let current = cache.currentPage
        if let current {
            #expect(pool.referenceCount(of: current) == cache.bias + outstandingByPage[current, default: 0])
        }
        for (page, outstanding) in outstandingByPage where page != current {
            #expect(pool.referenceCount(of: page) == outstanding, "released \(page)")
        }
        let census = pool.census()
        #expect(census.outstandingFragments == live.count)
        #expect(census.heldPages == (current == nil ? 0 : 1) + blockers.count)
        #expect(census.releasedPages == outstandingByPage.keys.filter { $0 != current }.count)
        #expect(pool.trackedLiveFragments() == live.count)
    }
}
