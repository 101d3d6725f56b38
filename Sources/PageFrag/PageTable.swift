// The pool's per-page metadata, the counterpart of the kernel's `struct page` array: one
// entry per 4 KiB unit of the region, found from any UMEM address as `offset >> 12`.
// A page of order N spans 2^N entries; its head entry (the first) carries the reference count
// and state, and every entry carries the order, so that a fragment anywhere in the page finds
// its head with a mask.
//
// The fields live in separate arrays (struct of arrays) on purpose: reference counts are
// written by whichever thread frees a fragment, while the holder's bias mirror is written only
// by the page's holder, so keeping them apart keeps one from evicting the other's cache line.

import Synchronization

/// The life of a page, as the census reports it.
public enum PageState: UInt8, Sendable, CustomStringConvertible {
    /// In the pool's free lists.
    case free = 0
    /// A holder (fragment cache or descriptor slot) owns it and holds a bias of references.
    case held = 1
    /// Its holder let go; only outstanding fragments keep it alive, and the last free returns it.
    case released = 2

    public var description: String {
        switch self {
        case .free: "free"
        case .held: "held"
        case .released: "released"
        }
    }
}

@usableFromInline
struct PageTable {
    @usableFromInline let unitCount: Int
    /// Reference count of the page whose head is at this entry.
    @usableFromInline let referenceCounts: UnsafeMutablePointer<Atomic<Int>>
    /// The holder's current bias, mirrored with a plain (relaxed) store on every allocation so
    /// that the census can tell fragments from bias without asking the holder's thread.
    @usableFromInline let holderBias: UnsafeMutablePointer<Atomic<Int>>
    /// `PageState` raw values, meaningful at head entries.
    @usableFromInline let states: UnsafeMutablePointer<Atomic<UInt8>>
    /// Order of the page each entry belongs to. Written under the pool lock when the page
    /// changes hands; read without it by `free`, which is safe because a fragment's holder
    /// received it after the write (the hand-over itself orders the two).
    @usableFromInline let orders: UnsafeMutablePointer<UInt8>

    init(unitCount: Int) {
        self.unitCount = unitCount
        referenceCounts = .allocate(capacity: unitCount)
        holderBias = .allocate(capacity: unitCount)
        states = .allocate(capacity: unitCount)
        orders = .allocate(capacity: unitCount)
        for index in 0..<unitCount {
            (referenceCounts + index).initialize(to: Atomic(0))
            (holderBias + index).initialize(to: Atomic(0))
            (states + index).initialize(to: Atomic(PageState.free.rawValue))
        }
        orders.initialize(repeating: 0, count: unitCount)
    }

    func deallocate() {
        referenceCounts.deinitialize(count: unitCount).deallocate()
        holderBias.deinitialize(count: unitCount).deallocate()
        states.deinitialize(count: unitCount).deallocate()
        orders.deallocate()
    }

    @inlinable
    func state(ofHead index: Int) -> PageState {
        PageState(rawValue: states[index].load(ordering: .relaxed))!
    }

    @inlinable
    func setState(_ state: PageState, ofHead index: Int) {
        states[index].store(state.rawValue, ordering: .relaxed)
    }

    /// The page that contains the byte at `unit` (a 4 KiB unit index).
    @inlinable
    func page(containing unit: Int) -> Page {
        let order = Int(orders[unit])
        return Page(index: unit & ~((1 &<< order) &- 1), order: order)
    }

    /// Marks every unit of `page` as belonging to a page of its order.
    func stampOrder(of page: Page) {
        (orders + page.index).update(repeating: UInt8(page.order), count: 1 << page.order)
    }
}
