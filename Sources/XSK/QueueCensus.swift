// Where one queue's buffers are at one moment: in the fill ring, with the kernel to receive
// into, with the application, in the TX ring, with the kernel to send. Ring indices are
// snapshots; the census is for reports and tests, never the per-packet path.

import PageFrag

/// Where one queue's buffers are, at one moment (ring indices are snapshots).
public struct QueueCensus: Sendable, Equatable {
    /// Posted to the fill ring, not yet taken by the kernel.
    public var inFillRing: Int
    /// Taken by the kernel to receive into, not yet in the RX ring.
    public var withKernelForReceive: Int
    /// Frames received and not yet released or forwarded: a chain counts once here, though it
    /// holds `segments` buffers (the other fields count buffers).
    public var inApplication: Int
    /// In the TX ring, not yet taken by the kernel.
    public var inTransmitRing: Int
    /// Taken by the kernel to send, not yet completed.
    public var withKernelForTransmit: Int
    /// Given back by the application and kept by the fill source to post again (aligned chunks):
    /// the queue's own, on no ring.
    public var keptForFill: Int
    /// The page the fill cache holds now, if any.
    public var fillCachePage: Page?
    /// The page the TX cache holds now, if any.
    public var transmitCachePage: Page?
    /// What the fill cache did with pages so far.
    public var cacheStatistics: PageFragCache.Statistics
    /// Descriptor-level page reuse, with `.descriptorSlots`.
    public var slotStatistics: RxBufferSlots.Statistics?
}

extension XSKQueue {
    /// Where this queue's buffers are now. (Mutating only because reading through an optional
    /// non-copyable value needs exclusive access in Swift today.)
    public var census: QueueCensus {
        mutating get {
            let fillRing = socket.fill.pending
            let txRing = socket.tx.pending
            return QueueCensus(
                inFillRing: fillRing,
                withKernelForReceive: max(0, ledger.receiveOutstanding - fillRing),
                inApplication: Int(counters.rxPackets &- counters.released &- counters.forwarded),
                inTransmitRing: txRing,
                withKernelForTransmit: max(0, ledger.transmitOutstanding - txRing),
                keptForFill: fill.recycledCount,
                fillCachePage: fill.currentPage,
                transmitCachePage: transmitCache.currentPage,
                cacheStatistics: fill.cacheStatistics,
                slotStatistics: fill.slotStatistics)
        }
    }
}
