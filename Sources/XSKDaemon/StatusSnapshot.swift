// What `xskd stats` shows: one snapshot of every queue, as the daemon's control socket sends it
// (JSON), and as the command prints it (a table). A queue's counters are the fields of
// `QueueSample.fields`, written and read by looping over that table, under the names the
// metrics use (without their `xskd_` namespace). The snapshot carries raw totals and the time
// it was taken, never rates: a client that wants rates takes two snapshots (`--watch` does),
// so that no baseline is shared between clients.

import Foundation
import PageFrag
import SystemCalls
import XSK
import XSKJobs

/// One snapshot of a running daemon: every queue's fields and the UMEM's, as `xskd stats` shows them.
public struct StatusSnapshot: Codable, Sendable {
    /// One port's queue in a snapshot.
    public struct QueueStatus: Codable, Sendable {
        /// The port's interface.
        public var interface: String
        /// The queue id.
        public var queue: UInt32
        /// Every field of `QueueSample.fields`, by its name.
        public var values: [String: UInt64]
        /// The stamped frames' sequences per flow (the queue's totals are among `values`).
        public var flows: [Flow]
        /// The round trips of the job's probes (the latency job's); nil when it timed none.
        public var roundTrip: LatencySummary?
        /// Sampled frames' residencies, arrival to transmit completion (reflect, forward); nil
        /// when none was timed.
        public var residency: LatencySummary?
        /// Each histogram's buckets for the metrics (not in the JSON).
        var roundTripBuckets = HistogramBuckets()
        var residencyBuckets = HistogramBuckets()

        /// A histogram's values at or below each of `StatusSnapshot.latencyBounds`, and their
        /// sum in nanoseconds: what a Prometheus histogram exposes.
        struct HistogramBuckets: Sendable {
            var cumulative: [UInt64] = []
            var sum: UInt64 = 0
            init() {}
            init(_ histogram: LatencyHistogram) {
                cumulative = histogram.cumulativeCounts(atUpperBounds: StatusSnapshot.latencyBounds)
                sum = histogram.sum
            }
        }

        /// A latency histogram's summary, in nanoseconds.
        public struct LatencySummary: Codable, Sendable, Equatable, CustomStringConvertible {
            /// Times recorded.
            public var count: UInt64
            /// The shortest.
            public var minimum: UInt64
            /// The median.
            public var p50: UInt64
            /// The 90th percentile.
            public var p90: UInt64
            /// The 99th percentile.
            public var p99: UInt64
            /// The 99.9th percentile.
            public var p999: UInt64
            /// The longest.
            public var maximum: UInt64
            /// The mean.
            public var mean: Double

            enum CodingKeys: String, CodingKey {
                case count
                case minimum = "min_ns"
                case p50 = "p50_ns"
                case p90 = "p90_ns"
                case p99 = "p99_ns"
                case p999 = "p99_9_ns"
                case maximum = "max_ns"
                case mean = "mean_ns"
            }

            init?(_ histogram: LatencyHistogram) {
                guard histogram.count > 0, let mean = histogram.mean else { return nil }
                count = histogram.count
                minimum = histogram.min
                maximum = histogram.max
                p50 = histogram.value(atQuantile: 0.5) ?? 0
                p90 = histogram.value(atQuantile: 0.9) ?? 0
                p99 = histogram.value(atQuantile: 0.99) ?? 0
                p999 = histogram.value(atQuantile: 0.999) ?? 0
                self.mean = mean
            }

            /// In microseconds, one line: "COUNT: min A, p50 B, ... us".
            public var description: String {
                func us(_ ns: UInt64) -> String { String(format: "%.1f", Double(ns) / 1000) }
                return "\(count): min \(us(minimum)), p50 \(us(p50)), p90 \(us(p90)), p99 \(us(p99)), "
                    + "p99.9 \(us(p999)), max \(us(maximum)) us"
            }
        }

        /// One flow's sequence counts, under the names of the queue's totals.
        public struct Flow: Codable, Sendable, Equatable {
            /// The flow id.
            public var flow: UInt32
            /// Stamped frames received.
            public var received: UInt64
            /// Sequence numbers missing.
            public var missing: UInt64
            /// Frames that came after a later one.
            public var reordered: UInt64
            /// Frames whose number was seen already.
            public var duplicated: UInt64
            /// Times the sender started again.
            public var restarts: UInt64

            enum CodingKeys: String, CodingKey {
                case flow
                case received = "sequence_received_total"
                case missing = "sequence_missing"
                case reordered = "sequence_reordered_total"
                case duplicated = "sequence_duplicated_total"
                case restarts = "sequence_restarts_total"
            }
        }

        /// A field by its name (0 when absent).
        public subscript(name: String) -> UInt64 { values[name] ?? 0 }

        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(_ string: String) { stringValue = string }
            init?(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        /// The queue's fields under their names.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(interface, forKey: Key("interface"))
            try container.encode(queue, forKey: Key("queue"))
            for field in QueueSample.fields { try container.encode(self[field.name], forKey: Key(field.name)) }
            try container.encode(flows, forKey: Key("flows"))
            try container.encodeIfPresent(roundTrip, forKey: Key("round_trip"))
            try container.encodeIfPresent(residency, forKey: Key("residency"))
        }

        /// Reads what `encode(to:)` wrote.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Key.self)
            interface = try container.decode(String.self, forKey: Key("interface"))
            queue = try container.decode(UInt32.self, forKey: Key("queue"))
            values = [:]
            for field in QueueSample.fields {
                values[field.name] = try container.decodeIfPresent(UInt64.self, forKey: Key(field.name))
            }
            flows = try container.decodeIfPresent([Flow].self, forKey: Key("flows")) ?? []
            roundTrip = try container.decodeIfPresent(LatencySummary.self, forKey: Key("round_trip"))
            residency = try container.decodeIfPresent(LatencySummary.self, forKey: Key("residency"))
        }

        init(_ sample: QueueSample) {
            interface = sample.interface
            queue = sample.queue
            values = Dictionary(uniqueKeysWithValues: QueueSample.fields.map { ($0.name, sample[$0]) })
            let sequences = sample.measurements.sequences
            flows = (0..<sequences.flowCount).map { index in
                let (flow, counts) = sequences.flow(at: index)
                return Flow(
                    flow: flow, received: counts.received, missing: counts.lost, reordered: counts.reordered, duplicated: counts.duplicated,
                    restarts: counts.restarts)
            }
            roundTrip = LatencySummary(sample.measurements.roundTrips)
            roundTripBuckets = HistogramBuckets(sample.measurements.roundTrips)
            residency = LatencySummary(sample.measurements.residency)
            residencyBuckets = HistogramBuckets(sample.measurements.residency)
        }
    }

    /// The metrics histograms' bucket bounds (round trips, residency), in nanoseconds: 1-2-5
    /// steps from 1 us to 1 s.
    static let latencyBounds: [UInt64] = (0..<7).flatMap { decade -> [UInt64] in
        let scale = [UInt64](repeating: 10, count: decade).reduce(1000, *)
        return [scale, 2 * scale, 5 * scale]
    } + [1_000_000_000]

    /// The daemon's version.
    public var version: String
    /// The daemon's interface.
    public var interface: String
    /// The job it runs.
    public var job: String
    /// When the snapshot was taken, in seconds since the Unix epoch.
    public var timestampSeconds: Double
    /// When the daemon started, in seconds since the Unix epoch.
    public var startTimeSeconds: Double
    /// Seconds since the daemon started, on the monotonic clock: what a client divides by for a
    /// rate (a step of the wall clock does not move it).
    public var uptimeSeconds: Double
    /// Every port's queue, queue order, port 0 first.
    public var queues: [QueueStatus]
    /// The UMEM's size.
    public var umemSizeBytes: Int
    /// UMEM bytes in the pool's free lists.
    public var umemFreeBytes: Int
    /// Buffers out of the pool.
    public var buffersOutstanding: Int

    enum CodingKeys: String, CodingKey {
        case version, interface, job, queues
        case timestampSeconds = "timestamp_seconds"
        case startTimeSeconds = "start_time_seconds"
        case uptimeSeconds = "uptime_seconds"
        case umemSizeBytes = "umem_size_bytes"
        case umemFreeBytes = "umem_free_bytes"
        case buffersOutstanding = "buffers_outstanding"
    }

    /// A snapshot of `runner` now; `started` is the same moment as `startTime`, on the
    /// monotonic clock.
    init(interface: String, job: String, startTime: Date, started: ContinuousClock.Instant, runner: JobRunner) {
        let samples = runner.samples()
        let census = runner.pool.census()
        version = PackageVersion.current
        self.interface = interface
        self.job = job
        timestampSeconds = Date().timeIntervalSince1970
        startTimeSeconds = startTime.timeIntervalSince1970
        uptimeSeconds = (ContinuousClock.now - started).inSeconds
        queues = samples.map(QueueStatus.init)
        umemSizeBytes = census.totalBytes
        umemFreeBytes = census.freeBytes
        buffersOutstanding = census.outstandingFragments
    }

    /// The table `xskd stats` prints, at most 100 columns wide: a header, then a block per
    /// queue with one row per field under its name. With `previous` (an earlier snapshot of the
    /// same daemon), counters show their rate over the time between the two; a daemon that
    /// restarted in between (another start time, or less uptime) shows none. Counters at 0 are
    /// left out unless `all`, and counted in a last line.
    public func table(previous: StatusSnapshot? = nil, all: Bool = false) -> String {
        var lines = [
            "xskd \(version) on \(interface), job \(job), up \(String(format: "%.0f", uptimeSeconds)) s",
            Self.row("  umem_size_bytes", "\(umemSizeBytes)", "\(umemSizeBytes >> 20) MiB"),
            Self.row("  umem_free_bytes", "\(umemFreeBytes)", "\(umemFreeBytes >> 20) MiB"),
            Self.row("  buffers_outstanding", "\(buffersOutstanding)", ""),
        ]
        let sameRun = previous.map { $0.startTimeSeconds == startTimeSeconds && $0.uptimeSeconds <= uptimeSeconds } ?? false
        if previous != nil, !sameRun { lines.append("(the daemon restarted since the last snapshot: no rates this time)") }
        let seconds = sameRun ? uptimeSeconds - previous!.uptimeSeconds : 0
        var hidden = 0
        for queue in queues {
            let before = sameRun ? previous?.queues.first { $0.interface == queue.interface && $0.queue == queue.queue } : nil
            lines.append("")
            lines.append(Self.row("queue \(queue.queue) on \(queue.interface)", "value", before != nil && seconds > 0 ? "per second" : ""))
            for field in QueueSample.fields {
                let value = queue[field.name]
                if field.kind == .counter, value == 0, !all {
                    hidden += 1
                    continue
                }
                var rate = ""
                // A counter below its earlier value was reset (or is not a counter): no rate.
                if field.kind == .counter, let before, seconds > 0, value >= before[field.name] {
                    rate = Self.humanRate(Double(value - before[field.name]) / seconds)
                }
                lines.append(Self.row("  " + field.name, "\(value)", rate))
            }
            lines.append(String(
                format: "  frames per RX batch %.1f, per TX batch %.1f; system calls per frame %.4f",
                queue.meanReceiveBatch, queue.meanTransmitBatch, queue.systemCallsPerFrame))
            if let roundTrip = queue.roundTrip { lines.append("  round trips \(roundTrip)") }
            if let residency = queue.residency { lines.append("  residency \(residency)") }
        }
        if hidden > 0 { lines.append("(\(hidden) counters at 0 not shown; --all shows them)") }
        return lines.joined(separator: "\n")
    }

    /// One table row: name (44 columns), value (20, right-aligned), rate (14, right-aligned).
    static func row(_ name: String, _ value: String, _ rate: String) -> String {
        func pad(_ text: String, _ width: Int, left: Bool) -> String {
            let padding = String(repeating: " ", count: max(width - text.count, 0))
            return left ? text + padding : padding + text
        }
        return pad(name, 44, left: true) + pad(value, 20, left: false) + pad(rate, 14, left: false)
    }

    /// A rate with an SI prefix: 1234567 -> "1.235 M".
    static func humanRate(_ rate: Double) -> String {
        switch rate {
        case 1e9...: String(format: "%.3f G", rate / 1e9)
        case 1e6...: String(format: "%.3f M", rate / 1e6)
        case 1e3...: String(format: "%.3f k", rate / 1e3)
        default: String(format: "%.1f", rate)
        }
    }
}

extension StatusSnapshot.QueueStatus {
    /// Frames per non-empty receive (0 before the first).
    var meanReceiveBatch: Double { per(self["rx_packets_total"], self["rx_batches_total"]) }
    /// Frames per non-empty transmit (0 before the first).
    var meanTransmitBatch: Double { per(self["tx_packets_total"], self["tx_batches_total"]) }
    /// poll(), nanosleep, recvfrom and sendto calls of the poll thread per frame received or sent.
    var systemCallsPerFrame: Double {
        per(
            self["poll_sleeps_total"] &+ self["naps_total"] &+ self["rx_wakeups_total"] &+ self["tx_wakeups_total"],
            self["rx_packets_total"] &+ self["tx_packets_total"])
    }

    private func per(_ numerator: UInt64, _ denominator: UInt64) -> Double {
        denominator == 0 ? 0 : Double(numerator) / Double(denominator)
    }
}
