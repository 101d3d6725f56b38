// What `xskd stats` shows: one snapshot of every queue, as the daemon's control socket sends it
// (JSON), and as the command prints it (a table).

import Foundation
import XSK

struct StatusSnapshot: Codable, Sendable {
    struct QueueStatus: Codable, Sendable {
        var queue: UInt32
        var rxPackets: UInt64
        var rxBytes: UInt64
        var txPackets: UInt64
        var txBytes: UInt64
        var rxPacketsPerSecond: Double
        var txPacketsPerSecond: Double
        var fillShortfalls: UInt64
        var fillRingEmptyEvents: UInt64
        var invalidAddresses: UInt64
        var invalidLengths: UInt64
        var transmitAllocationFailures: UInt64
        /// Non-empty receives and transmits (the mean batch sizes), and the data path's system
        /// calls: poll() sleeps, timed naps, recvfrom and sendto wakeups.
        var receiveBatches: UInt64
        var transmitBatches: UInt64
        var sleeps: UInt64
        var naps: UInt64
        var receiveWakeups: UInt64
        var transmitWakeups: UInt64
        var redirected: UInt64
        var passed: UInt64
        var tooLong: UInt64
        var kernelRxDropped: UInt64?
        var kernelRxRingFull: UInt64?
        var kernelFillRingEmpty: UInt64?
        var kernelTxInvalid: UInt64?
        var inFillRing: Int?
        var withKernelForReceive: Int?
        var inApplication: Int?
        var inTransmitRing: Int?
        var withKernelForTransmit: Int?
        var pagesTaken: Int?
        var pagesReleasedBusy: Int?
        var pagesReusedInPlace: Int?
        var slotPagesReused: Int?
        var slotPagesBusy: Int?
        var slotPagesAllocated: Int?
    }

    var interface: String
    var job: String
    var uptimeSeconds: Double
    var queues: [QueueStatus]
    var poolFreeBytes: Int
    var poolTotalBytes: Int
    var outstandingFragments: Int

    func table() -> String {
        var lines = [
            "xskd on \(interface), job \(job), up \(String(format: "%.0f", uptimeSeconds)) s; "
                + "UMEM \(poolTotalBytes >> 20) MiB, \(poolFreeBytes >> 20) MiB free, \(outstandingFragments) buffers out",
            String(format: "%5@ %12@ %10@ %12@ %10@ %9@ %9@ %9@ %9@ %9@ %9@ %8@ %8@ %9@",
                "queue", "rx pkts", "rx Mpps", "tx pkts", "tx Mpps", "fill", "kernel", "app", "ring-full", "fill-empty", "invalid",
                "rx batch", "tx batch", "syscalls/frame"),
        ]
        for queue in queues {
            lines.append(String(
                format: "%5u %12llu %10.3f %12llu %10.3f %9d %9d %9d %9llu %9llu %9llu %8.1f %8.1f %9.4f",
                queue.queue, queue.rxPackets, queue.rxPacketsPerSecond / 1e6, queue.txPackets, queue.txPacketsPerSecond / 1e6,
                queue.inFillRing ?? 0, queue.withKernelForReceive ?? 0, queue.inApplication ?? 0,
                queue.kernelRxRingFull ?? 0, queue.kernelFillRingEmpty ?? 0, queue.invalidAddresses &+ queue.invalidLengths,
                queue.meanReceiveBatch, queue.meanTransmitBatch, queue.systemCallsPerFrame))
        }
        return lines.joined(separator: "\n")
    }
}

extension StatusSnapshot.QueueStatus {
    /// Frames per non-empty receive (0 before the first).
    var meanReceiveBatch: Double { receiveBatches == 0 ? 0 : Double(rxPackets) / Double(receiveBatches) }
    /// Frames per non-empty transmit, counted when the kernel completes them (0 before the first).
    var meanTransmitBatch: Double { transmitBatches == 0 ? 0 : Double(txPackets) / Double(transmitBatches) }
    /// poll(), nanosleep, recvfrom and sendto calls of the poll thread per frame received or sent.
    var systemCallsPerFrame: Double {
        let frames = rxPackets &+ txPackets
        return frames == 0 ? 0 : Double(sleeps &+ naps &+ receiveWakeups &+ transmitWakeups) / Double(frames)
    }
}
