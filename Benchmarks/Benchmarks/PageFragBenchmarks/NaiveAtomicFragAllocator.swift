// The allocator the bias avoids: the same carving as PageFragCache, but every fragment takes
// its page reference with an atomic increment (get_page per allocation), as a fragment
// allocator without `pagecnt_bias` would.

import PageFrag

struct NaiveAtomicFragAllocator: ~Copyable {
    let pool: PagePool
    var page: Page?
    var offset = 0

    init(pool: PagePool) { self.pool = pool }

    deinit { if let page { pool.drain(page, references: 1) } }

    @inline(__always)
    mutating func alloc(size: Int) -> Fragment? {
        if let page, offset + size <= page.size {
            pool.addReferences(page, 1)
            defer { offset += size }
            return Fragment(offset: page.offset + UInt64(offset), length: UInt32(size))
        }
        return refill(size: size)
    }

    @inline(never)
    mutating func refill(size: Int) -> Fragment? {
        if let page { pool.drain(page, references: 1) }
        // The allocator's own reference keeps the page while it carves.
        page = pool.takePage(order: pool.maxOrder, references: 1)
        offset = 0
        guard let page, size <= page.size else { return nil }
        pool.addReferences(page, 1)
        offset = size
        return Fragment(offset: page.offset, length: UInt32(size))
    }
}
