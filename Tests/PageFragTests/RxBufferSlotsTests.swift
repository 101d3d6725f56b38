import Testing
import TestSupport
@testable import PageFrag

@Suite("RxBufferSlots")
struct RxBufferSlotsTests {
    @Test("each slot posts one half of its own page")
    func start() throws {
        let pool = try TestSupport.pool(size: 1 << 20)
        var slots = RxBufferSlots(pool: pool, count: 8, fragmentSize: 1792)
        var posted: [Fragment] = []
        slots.start { posted.append($0) }
        #expect(posted.count == 8)
        #expect(Set(posted.map { pool.page(containing: $0.offset) }).count == 8)
        #expect(posted.allSatisfy { $0.offset % 4096 == 0 && $0.length == 1792 })
        #expect(slots.statistics.pagesAllocated == 8)
        #expect(pool.census().outstandingFragments == 8)
        slots.drainAll()
        for fragment in posted { pool.free(fragment) }
        try pool.verifyQuiescent()
    }

    @Test("a half the application gives back quickly lets the slot flip and repost the same page")
    func flipWhenIdle() throws {
        let pool = try TestSupport.pool(size: 1 << 20)
        var slots = RxBufferSlots(pool: pool, count: 1, fragmentSize: 2048)
        var posted: Fragment?
        slots.start { posted = $0 }
        var current = try #require(posted)
        let page = pool.page(containing: current.offset)
        for round in 0..<10 {
            let (received, replacement) = slots.received(at: current.offset)
            #expect(received == current)
            let next = try #require(replacement)
            #expect(pool.page(containing: next.offset) == page)
            #expect(next.offset == current.offset ^ 2048, "round \(round)")
            slots.release(received)  // the application is done with it, on this thread
            current = next
        }
        #expect(slots.statistics.pagesReused == 10)
        #expect(slots.statistics.pagesBusy == 0)
        #expect(slots.statistics.pagesAllocated == 1)
        slots.drainAll()
        pool.free(current)
        try pool.verifyQuiescent()
    }

    @Test("a page whose other half the application still holds is let go, and a new page taken")
    func busyPage() throws {
        let pool = try TestSupport.pool(size: 1 << 20)
        var slots = RxBufferSlots(pool: pool, count: 1, fragmentSize: 2048)
        var posted: Fragment?
        slots.start { posted = $0 }
        let first = try #require(posted)
        let (heldA, second) = slots.received(at: first.offset)  // flips: A to the application
        let secondPosted = try #require(second)
        let (heldB, third) = slots.received(at: secondPosted.offset)  // A still held: busy
        let thirdPosted = try #require(third)
        #expect(slots.statistics.pagesBusy == 1)
        #expect(slots.statistics.pagesAllocated == 2)
        #expect(pool.page(containing: thirdPosted.offset) != pool.page(containing: first.offset))
        // The old page is released, kept alive by the two halves the application holds.
        let census = pool.census()
        #expect(census.releasedPages == 1)
        #expect(census.outstandingFragments == 3)
        // Freed from another thread's point of view (the pool), the old page comes home.
        pool.free(heldA)
        slots.release(heldB)  // not the slot's page any more: goes to the pool
        #expect(pool.census().releasedPages == 0)
        slots.drainAll()
        pool.free(thirdPosted)
        try pool.verifyQuiescent()
    }

    @Test("the decision reads the count before the half is handed out: a free after it cannot make a busy page look idle")
    func snapshotBeforeHandOff() throws {
        let pool = try TestSupport.pool(size: 1 << 20)
        var slots = RxBufferSlots(pool: pool, count: 1, fragmentSize: 2048)
        var posted: Fragment?
        slots.start { posted = $0 }
        let (heldA, next) = slots.received(at: posted!.offset)
        // B arrives while A is held: busy, whatever happens to A right after.
        let (heldB, replacement) = slots.received(at: next!.offset)
        pool.free(heldA)
        #expect(slots.statistics.pagesBusy == 1)
        #expect(pool.page(containing: replacement!.offset) != pool.page(containing: heldB.offset))
        pool.free(heldB)
        slots.drainAll()
        pool.free(replacement!)
        try pool.verifyQuiescent()
    }

    @Test("seeded random receive/hold/free sequences keep every count exact", arguments: [7, 99, 2026] as [UInt64])
    func randomized(seed: UInt64) throws {
        var random = SeededGenerator(seed: seed)
        let pool = try TestSupport.pool(size: 4 << 20)
        var slots = RxBufferSlots(pool: pool, count: 16, fragmentSize: 1792)
        var inRing: [Fragment] = []
        slots.start { inRing.append($0) }
        var held: [Fragment] = []
        for _ in 0..<5000 {
            if !inRing.isEmpty, Int.random(in: 0..<10, using: &random) < 6 {
                let fragment = inRing.remove(at: Int.random(in: 0..<inRing.count, using: &random))
                let (received, replacement) = slots.received(at: fragment.offset)
                #expect(received == fragment)
                held.append(received)
                if let replacement { inRing.append(replacement) }
            } else if !held.isEmpty {
                let fragment = held.remove(at: Int.random(in: 0..<held.count, using: &random))
                if Bool.random(using: &random) { slots.release(fragment) } else { pool.free(fragment) }
            }
            #expect(pool.census().outstandingFragments == inRing.count + held.count)
        }
        #expect(slots.statistics.pagesReused > 0)
        #expect(slots.statistics.pagesBusy > 0)
        slots.drainAll()
        for fragment in inRing + held { pool.free(fragment) }
        try pool.verifyQuiescent()
    }
}
