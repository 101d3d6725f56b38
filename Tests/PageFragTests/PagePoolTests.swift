import Foundation
import Testing
@testable import PageFrag

#if canImport(Glibc)
import Glibc
import TestSupport
#endif

@Suite("PagePool")
struct PagePoolTests {
    @Test("a new pool is one run of free top-order pages, rounded up")
    func newPoolIsFree() throws {
        let pool = try TestSupport.pool(size: 100_000, pageOrder: 3)
        #expect(pool.size == 4 * 32768)
        #expect(pool.backing == .smallPages)
        #expect(pool.fragmentBoundary == 0)
        let census = pool.census()
        #expect(census.isQuiescent)
        #expect(census.freeBytes == pool.size)
        #expect(census.freePagesByOrder == [0, 0, 0, 4])
        try pool.verifyQuiescent()
    }

    @Test("invalid configurations are refused with a reason")
    func invalidConfiguration() {
        for configuration in [
            PagePool.Configuration(size: 0),
            PagePool.Configuration(size: -5),
            PagePool.Configuration(size: 1 << 20, pageOrder: 11),
            PagePool.Configuration(size: 1 << 20, pageOrder: -1),
        ] {
            #expect(throws: PagePoolError.self) {
                _ = try PagePool(configuration: configuration, logger: TestSupport.logger)
            }
        }
    }

    @Test("pages split from larger ones and merge back with their buddies")
    func buddySplitAndMerge() throws {
        let pool = try TestSupport.pool(size: 2 * 32768, pageOrder: 3)
        let small = try #require(pool.takePage(order: 0, references: 1))
        #expect(small == Page(index: 0, order: 0))
        // Splitting one order-3 page leaves one free block of each order 0, 1, 2.
        #expect(pool.census().freePagesByOrder == [1, 1, 1, 1])
        let medium = try #require(pool.takePage(order: 2, references: 1))
        #expect(medium == Page(index: 4, order: 2))
        #expect(pool.page(containing: medium.offset + 5000) == medium)
        #expect(pool.page(containing: small.offset + 4095) == small)

        pool.drain(small, references: 1)
        pool.drain(medium, references: 1)
        #expect(pool.census().freePagesByOrder == [0, 0, 0, 2])
        try pool.verifyQuiescent()
    }

    @Test("takePage fails cleanly when the region is used up, and recovers")
    func exhaustion() throws {
        let pool = try TestSupport.pool(size: 4 * 32768, pageOrder: 3)
        var pages: [Page] = []
        while let page = pool.takePage(order: 3, references: 7) { pages.append(page) }
        #expect(pages.count == 4)
        #expect(pool.takePage(order: 0, references: 1) == nil)
        #expect(pool.census().heldPages == 4)
        for page in pages { pool.drain(page, references: 7) }
        try pool.verifyQuiescent()
    }

    @Test("drain gives back many references in one call; the last free returns the page")
    func drainThenLastFree() throws {
        // Fragments made by hand here, not by a cache, so the tracker would not know them.
        let pool = try TestSupport.pool(tracksFragments: false)
        let page = try #require(pool.takePage(order: 3, references: 1000))
        #expect(pool.referenceCount(of: page) == 1000)
        // Two references become fragments (as a cache would hand them out).
        #expect(pool.subtractAndTest(page, references: 998) == false)
        #expect(pool.census().releasedPages == 1)
        #expect(pool.census().outstandingFragments == 2)
        pool.free(Fragment(offset: page.offset, length: 10))
        #expect(pool.referenceCount(of: page) == 1)
        pool.free(Fragment(offset: page.offset + 10, length: 10))
        try pool.verifyQuiescent()
    }

    @Test("zero-copy on 4 KiB backing sets a 4 KiB fragment boundary; copy mode sets none")
    func boundaryFollowsConfiguration() throws {
        #expect(try TestSupport.pool(bufferMode: .zeroCopy).fragmentBoundary == 4096)
        #expect(try TestSupport.pool(bufferMode: .copy).fragmentBoundary == 0)
        // Pages no larger than the backing page need no boundary even in zero-copy mode.
        #expect(try TestSupport.pool(pageOrder: 0, bufferMode: .zeroCopy).fragmentBoundary == 0)
    }

    @Test("the census names every page that is not free")
    func leakReportNamesPages() throws {
        let pool = try TestSupport.pool()
        let page = try #require(pool.takePage(order: 1, references: 5))
        do {
            try pool.verifyQuiescent()
            Issue.record("a held page must fail verifyQuiescent")
        } catch {
            #expect(error.census.heldPages == 1)
            #expect(error.census.pages.first?.page == page)
            #expect(error.census.pages.first?.references == 5)
            #expect(error.description.contains("page \(page.index)"))
        }
        pool.drain(page, references: 5)
        try pool.verifyQuiescent()
    }

    static func freeHugePages() -> Int {
        guard let file = fopen("/proc/meminfo", "r") else { return 0 }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            if text.hasPrefix("HugePages_Free:") {
                return Int(text.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
            }
        }
        return 0
    }
}

/// Raises `vm.nr_hugepages` for a test and puts the old value back.
struct HugePageReservation {
    let previous: String

    init(pages: Int) throws {
        previous = try Self.read()
        let wanted = (Int(previous) ?? 0) + pages
        try Self.write("\(wanted)")
    }

    func restore() { try? Self.write(previous) }

    static let path = "/proc/sys/vm/nr_hugepages"

    static func read() throws -> String {
        guard let file = fopen(path, "r") else { throw HugePageError() }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 64)
        guard fgets(&buffer, 64, file) != nil else { throw HugePageError() }
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func write(_ value: String) throws {
        guard let file = fopen(path, "w") else { throw HugePageError() }
        defer { fclose(file) }
        guard fputs(value + "\n", file) >= 0 else { throw HugePageError() }
    }

    struct HugePageError: Error {}
}

extension PagePoolTests {
    /// Tests that read or change the machine's hugepage reservation, one at a time.
    @Suite("PagePool backing", .serialized)
    struct Backing {
        @Test("automatic backing takes hugepages when free and falls back to 4 KiB pages otherwise")
        func automaticBacking() throws {
            let hugePagesFree = PagePoolTests.freeHugePages() > 0
            let pool = try PagePool(
                configuration: .init(size: 1 << 20, backing: .automatic), logger: TestSupport.logger)
            #expect(pool.backing == (hugePagesFree ? .hugePages : .smallPages))
            if !hugePagesFree {
                #expect(throws: PagePoolError.self) {
                    _ = try PagePool(configuration: .init(size: 1 << 20, backing: .hugePages), logger: TestSupport.logger)
                }
            }
        }

        @Test(
            "hugepage backing: 2 MiB pages, and no boundary below 2 MiB in zero-copy mode",
            .enabled(if: TestSupport.isRoot, "reserving hugepages needs root"))
        func hugePageBacking() throws {
            let reserved = try HugePageReservation(pages: 2)
            defer { reserved.restore() }
            try #require(PagePoolTests.freeHugePages() >= 2, "the kernel reserved no hugepages")
            let pool = try PagePool(
                configuration: .init(size: 2 << 20, pageOrder: 9, backing: .hugePages, bufferMode: .zeroCopy),
                logger: TestSupport.logger)
            #expect(pool.backing == .hugePages)
            #expect(pool.fragmentBoundary == 0)
            var cache = PageFragCache(pool: pool)
            // A fragment may straddle a 4 KiB line: the hugepage is physically contiguous.
            let first = try unwrap(cache.alloc(size: 3000))
            let straddling = try unwrap(cache.alloc(size: 3000))
            #expect(straddling.offset == 3000)
            cache.drain()
            pool.free(first)
            pool.free(straddling)
            try pool.verifyQuiescent()
        }
    }
}
