// The ledger of the buffers a queue has handed to the kernel and not yet had back: one bitmap
// for what was posted to the fill ring, one for what was queued for transmit. Every RX and
// completion address is checked against it before it is followed, and at teardown it names
// what the kernel kept when the socket closed (the kernel returns nothing then).
//
// Two bitmaps, not one: a completion must never free a buffer the fill ring still holds, so a
// transmit completion is checked only against what was transmitted.

import PageFrag

@usableFromInline
struct KernelLedger {
    /// Posted to the fill ring, not yet received.
    @usableFromInline let receive: FragmentBitmap
    /// Queued for transmit, not yet completed.
    @usableFromInline let transmit: FragmentBitmap
    /// One past the last valid address: anything beyond is not ours.
    @usableFromInline let regionSize: UInt64

    init(regionSize: Int, granularity: Int) {
        receive = FragmentBitmap(regionSize: regionSize, granularity: granularity)
        transmit = FragmentBitmap(regionSize: regionSize, granularity: granularity)
        self.regionSize = UInt64(regionSize)
    }

    @inlinable func postedForReceive(_ start: UInt64) { receive.insert(start) }

    @inlinable func queuedForTransmit(_ start: UInt64) { transmit.insert(start) }

    /// Whether `start` was posted for receive; takes it off the ledger if so.
    @inlinable
    func takeReceived(_ start: UInt64) -> Bool {
        start < regionSize && receive.remove(start)
    }

    /// Whether `start` was queued for transmit; takes it off the ledger if so.
    @inlinable
    func takeCompleted(_ start: UInt64) -> Bool {
        start < regionSize && transmit.remove(start)
    }

    var receiveOutstanding: Int { receive.count }
    var transmitOutstanding: Int { transmit.count }

    /// Calls `body` with every buffer still on the ledger and clears it (the socket is closed).
    func reclaimAll(_ body: (UInt64) -> Void) {
        receive.removeAll(body)
        transmit.removeAll(body)
    }
}
