// Where a pool's memory is, at one moment: free in the lists, held by a cache or descriptor
// slot (with its bias), or released and kept alive only by fragments still out. It is the
// leak accounting: after every holder has drained and every fragment is freed, everything is
// free; otherwise the non-free pages are named.

/// Where a pool's memory is at one moment: free in the lists, held by a cache or descriptor slot,
/// or released and kept alive only by fragments still out.
///
/// It is the leak accounting: once every holder has drained and every fragment is freed,
/// everything is free (``isQuiescent``); otherwise ``pages`` names the pages that are not.
public struct PoolCensus: Sendable, Equatable, CustomStringConvertible {
    /// One page that is not free.
    public struct PageRecord: Sendable, Equatable, CustomStringConvertible {
        /// The page.
        public var page: Page
        /// Whether a holder has it or has let it go.
        public var state: PageState
        /// The page's reference count.
        public var references: Int
        /// The holder's bias (0 once released).
        public var holderBias: Int
        /// References that are fragments: count minus bias.
        public var outstandingFragments: Int { references - holderBias }

        /// The page, its reference count and state, for a leak report.
        public var description: String {
            "\(page): \(state), \(references) references, \(outstandingFragments) fragments out"
        }
    }

    /// Size of the region in bytes.
    public var totalBytes: Int
    /// Bytes in the free lists.
    public var freeBytes: Int
    /// Free blocks per order, after merging buddies.
    public var freePagesByOrder: [Int] = []
    /// Pages held by a cache or descriptor slot.
    public var heldPages = 0
    /// Pages whose holder let go, alive only through outstanding fragments.
    public var releasedPages = 0
    /// Fragments handed out and not yet freed, over all pages.
    public var outstandingFragments = 0
    /// Every page that is not free, up to `recordLimit` of them (the totals count all).
    public var pages: [PageRecord] = []
    /// The most pages ``pages`` lists.
    public static let recordLimit = 64

    /// A census of a region of `totalBytes` with `freeBytes` free and no page recorded yet.
    public init(totalBytes: Int, freeBytes: Int) {
        self.totalBytes = totalBytes
        self.freeBytes = freeBytes
    }

    mutating func record(_ record: PageRecord) {
        switch record.state {
        case .held: heldPages += 1
        case .released: releasedPages += 1
        case .free: return
        }
        outstandingFragments += record.outstandingFragments
        if pages.count < Self.recordLimit { pages.append(record) }
    }

    /// Every page free and no fragment out.
    public var isQuiescent: Bool {
        freeBytes == totalBytes && heldPages == 0 && releasedPages == 0 && outstandingFragments == 0
    }

    /// Free and total bytes, pages held and released, fragments outstanding: one line.
    public var description: String {
        "\(freeBytes)/\(totalBytes) bytes free, \(heldPages) pages held, \(releasedPages) released, "
            + "\(outstandingFragments) fragments outstanding"
    }
}

/// Thrown by `PagePool.verifyQuiescent()`: what is still out, page by page.
public struct LeakReport: Error, Sendable, CustomStringConvertible {
    /// The census that found pages still out.
    public var census: PoolCensus
    /// Live fragments by the tracker's independent count, when it disagrees with quiescence.
    public var trackerLiveFragments: Int?

    /// The census and the pages still out, for the drain report.
    public var description: String {
        var lines = ["page pool not quiescent: \(census)"]
        if let trackerLiveFragments {
            lines.append("fragment tracker counts \(trackerLiveFragments) live fragments")
        }
        for record in census.pages { lines.append("  \(record)") }
        let unlisted = census.heldPages + census.releasedPages - census.pages.count
        if unlisted > 0 { lines.append("  … and \(unlisted) more pages") }
        return lines.joined(separator: "\n")
    }
}
