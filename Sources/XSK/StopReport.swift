// Stopping a queue, and what the stop found: the kernel is given a moment to send what is
// queued, what arrived and nobody will read goes straight back, the socket is closed so the
// kernel lets go of the rest (its fill ring, what it held to receive or send into), the ledger
// names those buffers and they go back to the pool, and the fill source and TX cache drain with
// one call per page. Frames the application still holds stay valid and are reported; the
// pool's quiescence check is the pool owner's, once every queue has stopped.

import CShims
import PageFrag

#if canImport(Glibc)
import Glibc
#endif

/// What stopping a queue found and gave back.
public struct StopReport: Sendable, CustomStringConvertible {
    /// The stopped queue's interface.
    public var interface: String
    /// The queue id.
    public var queue: UInt32
    /// The queue's counters at the stop.
    public var statistics: XSKQueue.Statistics
    /// Frames in the RX ring at stop, given straight back.
    public var arrivedAtStop: Int
    /// Buffers the kernel held (fill ring, or taken to receive or send into) when the socket
    /// closed, given back to the pool.
    public var reclaimedFromKernel: Int
    /// Frames the application still holds: valid until it frees them.
    public var stillInApplication: Int

    /// Frames queued and how many of their buffers the kernel gave back sent: one per frame
    /// unless some were chains, which say so.
    var transmitted: String {
        let chains = statistics.txChains
        guard chains > 0 else { return "\(statistics.txPackets) (sent \(statistics.completions))" }
        return "\(statistics.txPackets), \(chains) of them chains (sent \(statistics.completions) of \(statistics.txBuffers) buffers)"
    }

    /// One line for the stop output.
    public var description: String {
        "\(interface) queue \(queue): rx \(statistics.rxPackets), tx \(transmitted), "
            + "returned at stop \(arrivedAtStop), reclaimed from the kernel \(reclaimedFromKernel), "
            + "still with the application \(stillInApplication), invalid addresses \(statistics.invalidAddresses), "
            + "invalid lengths \(statistics.invalidLengths)"
    }
}

extension XSKQueue {
    /// Stops the queue and gives back everything it and the kernel hold (see the top of this
    /// file); `programs`, when given, stops redirecting to the socket first.
    public consuming func stop(programs: XDPPrograms? = nil, transmitTimeout: Duration = .milliseconds(500)) -> StopReport {
        programs?.removeSocket(queue: socket.queue)
        // Frames still queued for transmit: give the kernel a moment to send them.
        let deadline = ContinuousClock.now + transmitTimeout
        while transmitOutstanding > 0, ContinuousClock.now < deadline {
            try? socket.wakeTransmit()
            if reapCompletions() == 0 { usleep(1000) }
        }
        // What arrived and nobody will read: straight back.
        var arrivedAtStop = 0
        let rx = socket.rx
        while true {
            let batch = rx.peek(upTo: 256)
            if batch.count == 0 { break }
            for index in 0..<batch.count {
                let start = addressing.start(of: batch[index].addr)
                if ledger.takeReceived(start) {
                    pool.free(Fragment(offset: start, length: 0))
                    arrivedAtStop += 1
                } else {
                    counters.invalidAddresses &+= 1
                }
            }
            rx.release(batch)
        }
        let application = Int(counters.rxPackets &- counters.released &- counters.forwarded)
        socket.close()
        // The socket is closed: the kernel holds nothing of ours any more.
        var reclaimed = 0
        ledger.reclaimAll { offset in
            pool.free(Fragment(offset: offset, length: 0))
            reclaimed += 1
        }
        // Replacements never posted hold their references too.
        reclaimed += fill.drain(pool)
        transmitCache.drain()
        let report = StopReport(
            interface: socket.interface.name, queue: socket.queue, statistics: counters,
            arrivedAtStop: arrivedAtStop, reclaimedFromKernel: reclaimed, stillInApplication: application)
        logger.info("queue stopped", metadata: ["report": "\(report)"])
        return report
    }
}
