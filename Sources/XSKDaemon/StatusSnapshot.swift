// What `xskd stats` shows: one snapshot of every queue, as the daemon's control socket sends it
// (JSON), and as the command prints it (a table). A queue's counters are the fields of
// `QueueSample.fields`, written and read by looping over that table.

import Foundation
import PageFrag
import SystemCalls
import XSK
import XSKJobs

/// The previous receive and transmit totals per queue, for a rate over the last interval.
final class RateBaseline: Sendable {
    let state = LockedValue<(at: ContinuousClock.Instant, rx: [UInt64], tx: [UInt64])?>(nil)
}

public struct StatusSnapshot: Codable, Sendable {
    public struct QueueStatus: Codable, Sendable {
        public var interface: String
        public var queue: UInt32
        /// Every field of `QueueSample.fields`, by its JSON key.
        public var values: [String: UInt64]
        public var rxPacketsPerSecond: Double
        public var txPacketsPerSecond: Double

        public subscript(key: String) -> UInt64 { values[key] ?? 0 }

        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(_ string: String) { stringValue = string }
            init?(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(interface, forKey: Key("interface"))
            try container.encode(queue, forKey: Key("queue"))
            for field in QueueSample.fields { try container.encode(self[field.key], forKey: Key(field.key)) }
            try container.encode(rxPacketsPerSecond, forKey: Key("rxPacketsPerSecond"))
            try container.encode(txPacketsPerSecond, forKey: Key("txPacketsPerSecond"))
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Key.self)
            interface = try container.decode(String.self, forKey: Key("interface"))
            queue = try container.decode(UInt32.self, forKey: Key("queue"))
            values = [:]
            for field in QueueSample.fields {
                values[field.key] = try container.decodeIfPresent(UInt64.self, forKey: Key(field.key))
            }
            rxPacketsPerSecond = try container.decode(Double.self, forKey: Key("rxPacketsPerSecond"))
            txPacketsPerSecond = try container.decode(Double.self, forKey: Key("txPacketsPerSecond"))
        }

        init(_ sample: QueueSample, rxPacketsPerSecond: Double, txPacketsPerSecond: Double) {
            interface = sample.interface
            queue = sample.queue
            values = Dictionary(uniqueKeysWithValues: QueueSample.fields.map { ($0.key, sample[$0]) })
            self.rxPacketsPerSecond = rxPacketsPerSecond
            self.txPacketsPerSecond = txPacketsPerSecond
        }
    }

    public var interface: String
    public var job: String
    public var uptimeSeconds: Double
    public var queues: [QueueStatus]
    public var poolFreeBytes: Int
    public var poolTotalBytes: Int
    public var outstandingFragments: Int

    /// A snapshot of `runner` now; rates are over the time since `rates` was last read.
    init(interface: String, job: String, started: ContinuousClock.Instant, runner: JobRunner, rates: RateBaseline) {
        let now = ContinuousClock.now
        let samples = runner.samples()
        let rx = samples.map(\.statistics.rxPackets)
        let tx = samples.map(\.statistics.txPackets)
        let previous = rates.state.withLock { state -> (at: ContinuousClock.Instant, rx: [UInt64], tx: [UInt64])? in
            defer { state = (now, rx, tx) }
            return state
        }
        let seconds = max((previous.map { now - $0.at } ?? (now - started)).inSeconds, 1e-3)
        queues = samples.enumerated().map { index, sample in
            let rxBefore = previous.flatMap { index < $0.rx.count ? $0.rx[index] : nil } ?? 0
            let txBefore = previous.flatMap { index < $0.tx.count ? $0.tx[index] : nil } ?? 0
            return QueueStatus(
                sample, rxPacketsPerSecond: Double(sample.statistics.rxPackets &- rxBefore) / seconds,
                txPacketsPerSecond: Double(sample.statistics.txPackets &- txBefore) / seconds)
        }
        let census = runner.pool.census()
        self.interface = interface
        self.job = job
        uptimeSeconds = (now - started).inSeconds
        poolFreeBytes = census.freeBytes
        poolTotalBytes = census.totalBytes
        outstandingFragments = census.outstandingFragments
    }

    public func table() -> String {
        var lines = [
            "xskd on \(interface), job \(job), up \(String(format: "%.0f", uptimeSeconds)) s; "
                + "UMEM \(poolTotalBytes >> 20) MiB, \(poolFreeBytes >> 20) MiB free, \(outstandingFragments) buffers out",
            String(format: "%5@ %12@ %10@ %12@ %10@ %9@ %9@ %9@ %9@ %9@ %9@ %8@ %8@ %9@",
                "queue", "rx pkts", "rx Mpps", "tx pkts", "tx Mpps", "fill", "kernel", "app", "ring-full", "fill-empty", "invalid",
                "rx batch", "tx batch", "syscalls/frame"),
        ]
        for queue in queues {
            lines.append(String(
                format: "%5u %12llu %10.3f %12llu %10.3f %9llu %9llu %9llu %9llu %9llu %9llu %8.1f %8.1f %9.4f",
                queue.queue, queue["rxPackets"], queue.rxPacketsPerSecond / 1e6, queue["txPackets"], queue.txPacketsPerSecond / 1e6,
                queue["inFillRing"], queue["withKernelForReceive"], queue["inApplication"],
                queue["kernelRxRingFull"], queue["kernelFillRingEmpty"], queue["invalidAddresses"] &+ queue["invalidLengths"],
                queue.meanReceiveBatch, queue.meanTransmitBatch, queue.systemCallsPerFrame))
        }
        return lines.joined(separator: "\n")
    }
}

extension StatusSnapshot.QueueStatus {
    /// Frames per non-empty receive (0 before the first).
    var meanReceiveBatch: Double { per(self["rxPackets"], self["receiveBatches"]) }
    /// Frames per non-empty transmit, counted when the kernel completes them (0 before the first).
    var meanTransmitBatch: Double { per(self["txPackets"], self["transmitBatches"]) }
    /// poll(), nanosleep, recvfrom and sendto calls of the poll thread per frame received or sent.
    var systemCallsPerFrame: Double {
        per(self["sleeps"] &+ self["naps"] &+ self["receiveWakeups"] &+ self["transmitWakeups"], self["rxPackets"] &+ self["txPackets"])
    }

    private func per(_ numerator: UInt64, _ denominator: UInt64) -> Double {
        denominator == 0 ? 0 : Double(numerator) / Double(denominator)
    }
}
