// Benchmark names carry no spaces: package-benchmark 1.38.1 writes threshold files with spaces
// turned into underscores but looks them up with the spaces kept.
//
// Fragment allocation against the baselines a user would pick instead, in one run: a naive
// allocator with one atomic per fragment (what the bias avoids), glibc malloc/free, and DPDK's
// rte_mempool with a per-thread cache. Each iteration does `operations` (1000) alloc+free pairs,
// so a reported time of N ns per iteration is N/1000 ns per pair (sub-nanosecond resolution;
// package-benchmark rounds to whole units). Thresholds: zero mallocs in steady state.

import Benchmark
import Glibc
import Logging
import MempoolBaseline
import PageFrag

/// Alloc+free pairs per benchmark iteration.
let operations = 1000

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal],
        timeUnits: .nanoseconds,
        warmupIterations: 10,
        scalingFactor: .one,
        maxDuration: .seconds(2),
        maxIterations: 100_000,
        thresholds: [.mallocCountTotal: .init(absolute: [.p90: 0])]
    )

    // The harness itself mallocs a few times per iteration; this empty body measures that, so
    // that every other row's mallocs can be read as "this many more than nothing".
    Benchmark("control_empty_iteration") { _ in }

    var logger = Logger(label: "xskd.benchmarks")
    logger.logLevel = .warning
    let pool = try! PagePool(
        configuration: .init(size: 64 << 20, pageOrder: 3, backing: .smallPages, tracksFragments: false),
        logger: logger)

    let mempoolStatus = mempool_baseline_init(16383, 2048, 256)

    for size in [64, 256, 1792] {
        Benchmark("PageFragCache_alloc+free_by_owner_\(size)B") { benchmark in
            var cache = PageFragCache(pool: pool)
            for _ in 0..<operations {
                let fragment = cache.alloc(size: size)!
                blackHole(fragment)
                cache.free(fragment)
            }
        }
        Benchmark("PageFragCache_alloc+pool_free_\(size)B") { benchmark in
            var cache = PageFragCache(pool: pool)
            for _ in 0..<operations {
                let fragment = cache.alloc(size: size)!
                blackHole(fragment)
                pool.free(fragment)
            }
        }
        Benchmark("naive_atomic_alloc+free_\(size)B") { benchmark in
            var naive = NaiveAtomicFragAllocator(pool: pool)
            for _ in 0..<operations {
                let fragment = naive.alloc(size: size)!
                blackHole(fragment)
                pool.free(fragment)
            }
        }
        Benchmark("glibc_malloc+free_\(size)B") { benchmark in
            for _ in 0..<operations {
                let pointer = malloc(size)
                blackHole(pointer)
                free(pointer)
            }
        }
    }

    if mempoolStatus == 0 {
        Benchmark("rte_mempool_cached_get+put_2048B") { benchmark in
            for _ in 0..<operations {
                let object = mempool_baseline_get()
                blackHole(object)
                mempool_baseline_put(object)
            }
        }
    } else {
        print("rte_mempool baseline unavailable: rte_eal_init/rte_mempool_create failed with \(mempoolStatus)")
    }

    // Bulk: 64 fragments out, then 64 back, as a ring refill and its completions would;
    // 16 rounds of 64 per iteration (1024 pairs).
    let fragments = UnsafeMutablePointer<Fragment>.allocate(capacity: 64)
    let objects = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: 64)
    // The same with 2 MiB pages (order 9): 1170 fragments per page instead of 18, so the
    // once-per-page work (lock, free lists, one atomic) and the atomic frees of fragments on
    // pages already given up are amortised over 65 times as many fragments.
    let bigPagePool = try! PagePool(
        configuration: .init(size: 64 << 20, pageOrder: 9, backing: .smallPages, tracksFragments: false),
        logger: logger)
    for (label, bulkPool) in [("32KiB_pages", pool), ("2MiB_pages", bigPagePool)] {
        Benchmark("bulk64_PageFragCache_alloc_owner_free_1792B_\(label)") { benchmark in
            var cache = PageFragCache(pool: bulkPool)
            for _ in 0..<16 {
                for index in 0..<64 { fragments[index] = cache.alloc(size: 1792)! }
                for index in 0..<64 { cache.free(fragments[index]) }
            }
        }
        Benchmark("bulk64_PageFragCache_alloc_pool_free_1792B_\(label)") { benchmark in
            var cache = PageFragCache(pool: bulkPool)
            for _ in 0..<16 {
                for index in 0..<64 { fragments[index] = cache.alloc(size: 1792)! }
                for index in 0..<64 { bulkPool.free(fragments[index]) }
            }
        }
    }
    if mempoolStatus == 0 {
        Benchmark("bulk64_rte_mempool_get_bulk+put_bulk_2048B") { benchmark in
            for _ in 0..<16 {
                precondition(mempool_baseline_get_bulk(objects, 64) == 0)
                mempool_baseline_put_bulk(objects, 64)
            }
        }
    }

    // Freed on another thread: one atomic decrement per fragment on the freeing core, while the
    // owner carves on its own core; the page counts' cache lines move between the two.
    Benchmark(
        "cross-thread_PageFragCache_alloc_free_on_other_thread_1792B",
        configuration: .init(
            setup: { crossThreadFreer = CrossThreadFreer(pool: pool) },
            teardown: { crossThreadFreer?.stop(); crossThreadFreer = nil })
    ) { benchmark in
        let freer = crossThreadFreer!
        var cache = PageFragCache(pool: pool)
        for _ in 0..<operations {
            freer.push(cache.alloc(size: 1792)!)
        }
        freer.waitUntilEmpty()
    }
}

nonisolated(unsafe) var crossThreadFreer: CrossThreadFreer?
