import Testing
@testable import PageFrag
import TestSupport

/// Caller mistakes that would corrupt reference counts silently must trap instead. Each runs
/// in a child process (an exit test) and must end in a crash, not return.
@Suite("PageFrag misuse traps")
struct MisuseTests {
    @Test("freeing a fragment twice traps")
    func doubleFree() async {
        await #expect(processExitsWith: .failure) {
            let pool = try TestSupport.pool(tracksFragments: true)
            var cache = PageFragCache(pool: pool)
            let fragment = cache.alloc(size: 64)!
            _ = cache.alloc(size: 64)  // keep the page alive, so the count alone would not notice
            pool.free(fragment)
            pool.free(fragment)
        }
    }

    @Test("freeing an address no cache handed out traps")
    func foreignAddressInsideRegion() async {
        await #expect(processExitsWith: .failure) {
            let pool = try TestSupport.pool(tracksFragments: true)
            var cache = PageFragCache(pool: pool)
            let fragment = cache.alloc(size: 64)!
            pool.free(Fragment(offset: fragment.offset + 8, length: 8))
        }
    }

    @Test("freeing an address outside the region traps, tracker or not")
    func foreignAddressOutsideRegion() async {
        await #expect(processExitsWith: .failure) {
            let pool = try TestSupport.pool(tracksFragments: false)
            pool.free(Fragment(offset: UInt64(pool.size) + 4096, length: 8))
        }
    }

    @Test("without the tracker, a free on a free page still traps on the count going below zero")
    func freeOnFreePage() async {
        await #expect(processExitsWith: .failure) {
            let pool = try TestSupport.pool(tracksFragments: false)
            pool.free(Fragment(offset: 4096, length: 8))
        }
    }

    @Test("draining more references than are held traps")
    func overDrain() async {
        await #expect(processExitsWith: .failure) {
            let pool = try TestSupport.pool(tracksFragments: false)
            let page = pool.takePage(order: 0, references: 2)!
            pool.drain(page, references: 3)
        }
    }

    @Test("a zero-size fragment is refused")
    func zeroSize() async {
        await #expect(processExitsWith: .failure) {
            let pool = try TestSupport.pool()
            var cache = PageFragCache(pool: pool)
            _ = cache.alloc(size: 0)
        }
    }
}
