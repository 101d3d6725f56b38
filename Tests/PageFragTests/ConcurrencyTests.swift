import Foundation
import Synchronization
import SystemCalls
import Testing
@testable import PageFrag
import TestSupport

/// Fragments carved on one thread and freed on others, many rounds, ending quiescent. CI runs
/// this suite under ThreadSanitizer: a missing acquire/release on the reference counts shows
/// up as a race on the fragment bytes, which the consumers read before freeing.
@Suite("PageFrag across threads", .serialized)
struct ConcurrencyTests {
    static let fragmentsPerRun = 100_000

    @Test("a single-owner cache on one thread, frees on two others")
    func producerAndFreeingThreads() throws {
        let pool = try TestSupport.pool(size: 4 << 20, pageOrder: 3, tracksFragments: false)
        let queues = [FragmentQueue(), FragmentQueue()]
        let statistics = LockedValue(PageFragCache.Statistics())

        let producer = JoinableThread {
            var cache = PageFragCache(pool: pool)
            var sequence = 0
            var batch: [Fragment] = []
            batch.reserveCapacity(32)
            while sequence < Self.fragmentsPerRun {
                let size = 64 + (sequence % 29) * 61
                guard let fragment = cache.alloc(size: size) else {
                    // The consumers have not caught up and the pool is dry: let them run.
                    sched_yield()
                    continue
                }
                pool.fill(fragment, with: UInt8(truncatingIfNeeded: sequence | 1))
                batch.append(fragment)
                sequence += 1
                if batch.count == 32 || sequence == Self.fragmentsPerRun {
                    queues[sequence / 32 % 2].push(batch)
                    batch.removeAll(keepingCapacity: true)
                }
            }
            for queue in queues { queue.finish() }
            cache.drain()
            statistics.withLock { $0 = cache.statistics }
        }
        let consumers = queues.map { queue in
            JoinableThread {
                while let batch = queue.pop() {
                    for fragment in batch {
                        let first = (pool.base + Int(fragment.offset)).load(as: UInt8.self)
                        precondition(pool.holds(fragment, value: first), "\(fragment) overwritten while live")
                        pool.free(fragment)
                    }
                }
            }
        }
        producer.join()
        for consumer in consumers { consumer.join() }

        let counts = statistics.withLock { $0 }
        #expect(counts.pagesReusedInPlace + counts.pagesReleasedBusy > 0)
        try pool.verifyQuiescent()
    }

    @Test("a shared cache used by three threads that free each other's fragments")
    func sharedCacheAcrossThreads() throws {
        let pool = try TestSupport.pool(size: 4 << 20, pageOrder: 2, tracksFragments: false)
        let cache = SharedPageFragCache(pool: pool)
        let threadCount = 3
        let queues = (0..<threadCount).map { _ in FragmentQueue() }
        let perThread = Self.fragmentsPerRun / threadCount

        // A thread that has made its share keeps freeing its inbox until every thread has:
        // its neighbour's fragments would otherwise pile up and starve the pool.
        let producersDone = AtomicCounter()
        let threads = (0..<threadCount).map { index in
            JoinableThread {
                var made = 0
                var inbox: [Fragment] = []
                while made < perThread || producersDone.value.load(ordering: .acquiring) < threadCount {
                    if made < perThread,
                        let fragment = cache.alloc(size: 32 + (made % 50) * 37, alignment: 1 << (made % 7))
                    {
                        pool.fill(fragment, with: UInt8(truncatingIfNeeded: index + 1))
                        queues[(index + 1) % threadCount].push([fragment])
                        made += 1
                        if made == perThread { producersDone.value.add(1, ordering: .releasing) }
                    } else {
                        sched_yield()
                    }
                    // Free what a neighbour sent us, checking it was not overwritten.
                    if queues[index].tryPop(into: &inbox) {
                        for fragment in inbox {
                            precondition(pool.holds(fragment, value: UInt8((index + threadCount - 1) % threadCount + 1)))
                            pool.free(fragment)
                        }
                    }
                }
            }
        }
        for thread in threads { thread.join() }
        for queue in queues {
            var rest: [Fragment] = []
            while queue.tryPop(into: &rest) { rest.forEach(pool.free) }
        }
        cache.drain()
        #expect(cache.statistics.pagesTaken > 0)
        try pool.verifyQuiescent()
    }
}

/// A mutex-protected hand-over queue between test threads (the rings play this part later).
final class FragmentQueue: Sendable {
    private let state = LockedValue<(batches: [[Fragment]], finished: Bool)>(([], false))

    func push(_ batch: [Fragment]) { state.withLock { $0.batches.append(batch) } }
    func finish() { state.withLock { $0.finished = true } }

    /// Next batch, waiting for one; nil once finished and empty.
    func pop() -> [Fragment]? {
        while true {
            let next: [Fragment]?? = state.withLock { state in
                if !state.batches.isEmpty { return state.batches.removeFirst() }
                return state.finished ? .some(nil) : nil
            }
            if let next { return next }
            sched_yield()
        }
    }

    func tryPop(into batch: inout [Fragment]) -> Bool {
        let next = state.withLock { $0.batches.isEmpty ? nil : $0.batches.removeFirst() }
        guard let next else { return false }
        batch = next
        return true
    }
}

final class AtomicCounter: Sendable {
    let value = Atomic<Int>(0)
}

@Suite("PagePool in-flight wait")
struct PagePoolWaitTests {
    @Test("waitUntilQuiescent returns once the last fragment comes home from another thread")
    func waitsForLateFree() throws {
        let pool = try TestSupport.pool(tracksFragments: false)
        var cache = PageFragCache(pool: pool)
        let fragment = try unwrap(cache.alloc(size: 100))
        cache.drain()
        let freer = JoinableThread {
            usleep(50_000)
            pool.free(fragment)
        }
        #expect(pool.waitUntilQuiescent(timeout: .seconds(5)) == nil)
        freer.join()
    }

    @Test("waitUntilQuiescent gives up after its timeout with a report naming what is out")
    func timesOut() throws {
        let pool = try TestSupport.pool(tracksFragments: false)
        var cache = PageFragCache(pool: pool)
        let fragment = try unwrap(cache.alloc(size: 100))
        cache.drain()
        let report = try #require(pool.waitUntilQuiescent(timeout: .milliseconds(50)))
        #expect(report.census.outstandingFragments == 1)
        pool.free(fragment)
        #expect(pool.waitUntilQuiescent(timeout: .milliseconds(50)) == nil)
    }
}
