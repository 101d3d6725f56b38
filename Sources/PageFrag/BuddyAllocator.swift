// The pool's free lists: a binary buddy allocator over the page table. Pages are naturally
// aligned blocks of 2^order units; a request splits the smallest free block that fits, and a
// returned page merges with its buddy as long as the buddy is free and of the same order, so
// fallback to small pages under pressure does not fragment the region for good.
//
// It runs only under the pool's lock. That is the slow path: a fragment cache comes here once
// per page, not once per fragment.

@usableFromInline
struct BuddyAllocator: ~Copyable {
    let maxOrder: Int
    let table: PageTable
    /// Head unit of the first free block of each order, or -1.
    private var firstFree: [Int32]
    /// Doubly linked free lists, threaded through the head units of free blocks.
    private var next: [Int32]
    private var previous: [Int32]
    /// Whether the block whose head is at this unit is in a free list (with its order in the
    /// page table), so that a merge can test its buddy in O(1).
    private var isFreeHead: [Bool]
    private(set) var freeUnits: Int
    /// Free blocks per order, for the census.
    private(set) var freeBlocks: [Int]

    init(table: PageTable, maxOrder: Int) {
        precondition(table.unitCount % (1 << maxOrder) == 0, "region must be a whole number of top-order pages")
        self.maxOrder = maxOrder
        self.table = table
        firstFree = Array(repeating: -1, count: maxOrder + 1)
        next = Array(repeating: -1, count: table.unitCount)
        previous = Array(repeating: -1, count: table.unitCount)
        isFreeHead = Array(repeating: false, count: table.unitCount)
        freeUnits = 0
        freeBlocks = Array(repeating: 0, count: maxOrder + 1)
        // Push in reverse so that the first allocations come from the start of the region.
        for index in stride(from: table.unitCount - (1 << maxOrder), through: 0, by: -(1 << maxOrder)) {
            push(Page(index: index, order: maxOrder))
        }
    }

    /// Takes a free page of exactly `order`, splitting a larger one if needed.
    mutating func allocate(order: Int) -> Page? {
        var sourceOrder = order
        while sourceOrder <= maxOrder, firstFree[sourceOrder] < 0 { sourceOrder += 1 }
        guard sourceOrder <= maxOrder else { return nil }
        let block = Page(index: Int(firstFree[sourceOrder]), order: sourceOrder)
        remove(block)
        // Split: keep the lower half, give the upper half back at each step down.
        var splitOrder = sourceOrder
        while splitOrder > order {
            splitOrder -= 1
            push(Page(index: block.index + (1 << splitOrder), order: splitOrder))
        }
        let page = Page(index: block.index, order: order)
        table.stampOrder(of: page)
        return page
    }

    /// Returns a page and merges it with its free buddies.
    mutating func free(_ page: Page) {
        assert(!isFreeHead[page.index], "\(page) freed while already free")
        var index = page.index
        var order = page.order
        while order < maxOrder {
            let buddy = index ^ (1 << order)
            guard isFreeHead[buddy], Int(table.orders[buddy]) == order else { break }
            remove(Page(index: buddy, order: order))
            index = min(index, buddy)
            order += 1
        }
        push(Page(index: index, order: order))
    }

    private mutating func push(_ page: Page) {
        let head = Int32(page.index)
        table.orders[page.index] = UInt8(page.order)
        table.setState(.free, ofHead: page.index)
        isFreeHead[page.index] = true
        previous[page.index] = -1
        next[page.index] = firstFree[page.order]
        if firstFree[page.order] >= 0 { previous[Int(firstFree[page.order])] = head }
        firstFree[page.order] = head
        freeUnits += 1 << page.order
        freeBlocks[page.order] += 1
    }

    private mutating func remove(_ page: Page) {
        assert(isFreeHead[page.index])
        let before = previous[page.index]
        let after = next[page.index]
        if before >= 0 { next[Int(before)] = after } else { firstFree[page.order] = after }
        if after >= 0 { previous[Int(after)] = before }
        isFreeHead[page.index] = false
        freeUnits -= 1 << page.order
        freeBlocks[page.order] -= 1
    }
}
