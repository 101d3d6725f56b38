// Everything known of one port's queue at one moment, and the one table of its fields: name,
// kind, unit, help and key path. The stats table, the JSON, the metrics and the benchmark all loop
// over `QueueSample.fields`, so adding a counter is one line here (and one in the counters it
// reads from).

import PageFrag
import XSK

/// One port's queue at one moment: its counters, its XDP program's, the kernel's, its census.
public struct QueueSample: Sendable {
    /// The port's interface.
    public var interface: String
    /// The queue id.
    public var queue: UInt32
    /// The queue's own counters.
    public var statistics: XSKQueue.Statistics
    /// What the XDP program counted for this queue.
    public var program: QueueCounters
    /// The kernel's XDP_STATISTICS for the socket (nil when it could not be read).
    public var kernel: XDPStatistics?
    /// Where the queue's buffers were; nil before its poll thread first published.
    public var census: QueueCensus?
    /// What the queue's job measured; a thread's second port carries none (its job's
    /// measurements are on port 0's sample).
    public var measurements: JobMeasurements
    /// What the run's capture staged and missed of this port's frames (zero without a capture).
    public var capture: CaptureCounters

    /// A sample from its parts.
    public init(
        interface: String, queue: UInt32, statistics: XSKQueue.Statistics, program: QueueCounters, kernel: XDPStatistics?, census: QueueCensus?,
        measurements: JobMeasurements = JobMeasurements(), capture: CaptureCounters = CaptureCounters()
    ) {
        self.interface = interface
        self.queue = queue
        self.statistics = statistics
        self.program = program
        self.kernel = kernel
        self.census = census
        self.measurements = measurements
        self.capture = capture
    }

    /// The value of one field.
    public subscript(field: QueueField) -> UInt64 { self[keyPath: field.value] }

    // Fields of the optional parts, 0 when absent.
    /// Frames the kernel dropped for other reasons (`XDPStatistics.rxDropped`); 0 without the
    /// kernel's statistics.
    public var kernelRxDropped: UInt64 { kernel?.rxDropped ?? 0 }
    /// Frames the kernel dropped on a full RX ring (`XDPStatistics.rxRingFull`); 0 without the
    /// kernel's statistics.
    public var kernelRxRingFull: UInt64 { kernel?.rxRingFull ?? 0 }
    /// Times the kernel found the fill ring empty (`XDPStatistics.rxFillRingEmpty`); 0 without the
    /// kernel's statistics.
    public var kernelFillRingEmpty: UInt64 { kernel?.rxFillRingEmpty ?? 0 }
    /// TX descriptors the kernel refused (`XDPStatistics.txInvalidDescriptors`); 0 without the
    /// kernel's statistics.
    public var kernelTxInvalid: UInt64 { kernel?.txInvalidDescriptors ?? 0 }
    /// Fill ring descriptors the kernel refused (`XDPStatistics.rxInvalidDescriptors`); 0 without
    /// the kernel's statistics.
    public var kernelRxInvalid: UInt64 { kernel?.rxInvalidDescriptors ?? 0 }
    /// Times the kernel found the TX ring empty (`XDPStatistics.txRingEmpty`); 0 without the
    /// kernel's statistics.
    public var kernelTxRingEmpty: UInt64 { kernel?.txRingEmpty ?? 0 }
    /// Buffers posted to the fill ring and not yet taken by the kernel; 0 without a census.
    public var inFillRing: UInt64 { UInt64(census?.inFillRing ?? 0) }
    /// Buffers the kernel took to receive into, not yet in the RX ring; 0 without a census.
    public var withKernelForReceive: UInt64 { UInt64(census?.withKernelForReceive ?? 0) }
    /// Received frames the job holds (not yet released or sent); 0 without a census.
    public var inApplication: UInt64 { UInt64(census?.inApplication ?? 0) }
    /// Frames in the TX ring, not yet taken by the kernel; 0 without a census.
    public var inTransmitRing: UInt64 { UInt64(census?.inTransmitRing ?? 0) }
    /// Frames the kernel took to send, not yet completed; 0 without a census.
    public var withKernelForTransmit: UInt64 { UInt64(census?.withKernelForTransmit ?? 0) }
    /// Buffers given back and kept to post to the fill ring again (aligned chunks); 0 without a
    /// census.
    public var keptForFill: UInt64 { UInt64(census?.keptForFill ?? 0) }
    /// Pages the fill cache took from the pool; 0 without a census.
    public var pagesTaken: UInt64 { UInt64(census?.cacheStatistics.pagesTaken ?? 0) }
    /// Used-up pages the fill cache let go while fragments were still out; 0 without a census.
    public var pagesReleasedBusy: UInt64 { UInt64(census?.cacheStatistics.pagesReleasedBusy ?? 0) }
    /// Used-up pages the fill cache reused in place, every fragment having come home; 0 without a
    /// census.
    public var pagesReusedInPlace: UInt64 { UInt64(census?.cacheStatistics.pagesReusedInPlace ?? 0) }
    /// Received halves whose page the descriptor slots flipped and reposted without the pool; 0
    /// without a census or without descriptor slots.
    public var slotPagesReused: UInt64 { UInt64(census?.slotStatistics?.pagesReused ?? 0) }
    /// Pages the descriptor slots gave up because the job still held the other half; 0 without a
    /// census or without descriptor slots.
    public var slotPagesBusy: UInt64 { UInt64(census?.slotStatistics?.pagesBusy ?? 0) }
    /// Stamped frames the job received (see `ProbeStamp`), every flow.
    public var sequenceReceived: UInt64 { measurements.sequences.total.received }
    /// Sequence numbers of stamped frames skipped and not seen since (a late frame takes its
    /// number back out, so this is a level, not a counter).
    public var sequenceMissing: UInt64 { measurements.sequences.total.lost }
    /// Stamped frames that arrived after a later one of their flow.
    public var sequenceReordered: UInt64 { measurements.sequences.total.reordered }
    /// Stamped frames whose sequence number had been seen already.
    public var sequenceDuplicated: UInt64 { measurements.sequences.total.duplicated }
    /// Times a flow's sequence jumped back beyond the tracking window (its sender restarted).
    public var sequenceRestarts: UInt64 { measurements.sequences.total.restarts }
    /// Flows whose sequences are tracked.
    public var sequenceFlows: UInt64 { UInt64(measurements.sequences.flowCount) }
    /// Pages the descriptor slots took from the pool; 0 without a census or without descriptor
    /// slots.
    public var slotPagesAllocated: UInt64 { UInt64(census?.slotStatistics?.pagesAllocated ?? 0) }
}

/// One field of a `QueueSample`: its one name (snake_case, the same in the stats table, the
/// JSON and, after the `xskd_` namespace, the metrics), what it means, its unit, and whether it
/// only grows (a counter, named `..._total` as Prometheus counters are) or is a level (a gauge).
public struct QueueField: Sendable {
    /// Whether a field only grows (a counter) or goes up and down (a gauge), as Prometheus types
    /// metrics.
    public enum Kind: String, Sendable {
        /// Only grows (frames, bytes, calls, events since the start).
        case counter
        /// A level at the moment of the sample (buffers in a ring).
        case gauge
    }

    /// The field's name, in snake_case (`rx_packets_total`): the JSON key and the table's row;
    /// the metric is `xskd_` and this name.
    public let name: String
    /// Whether the field is a counter or a gauge.
    public let kind: Kind
    /// The base unit: frames, bytes, calls, events, buffers or pages.
    public let unit: String
    /// What the field means, in one line (the metric's help text).
    public let help: String
    /// Where a sample holds the field's value.
    public let value: KeyPath<QueueSample, UInt64> & Sendable

    init(_ name: String, _ kind: Kind, _ unit: String, _ help: String, _ value: KeyPath<QueueSample, UInt64> & Sendable) {
        self.name = name
        self.kind = kind
        self.unit = unit
        self.help = help
        self.value = value
    }
}

extension QueueSample {
    /// Every field, in the order tables show them.
    public static let fields: [QueueField] = [
        .init("rx_packets_total", .counter, "frames", "Frames received", \.statistics.rxPackets),
        .init("rx_bytes_total", .counter, "bytes", "Bytes received", \.statistics.rxBytes),
        .init("tx_packets_total", .counter, "frames", "Frames queued on the TX ring", \.statistics.txPackets),
        .init("tx_bytes_total", .counter, "bytes", "Bytes of the frames queued on the TX ring", \.statistics.txBytes),
        .init("tx_completions_total", .counter, "buffers", "TX buffers the kernel completed (sent; a chain's each)", \.statistics.completions),
        .init("rx_chains_total", .counter, "frames", "Received frames of more than one buffer (chains)", \.statistics.rxChains),
        .init("rx_chain_buffers_total", .counter, "buffers", "Buffers of the received chains", \.statistics.rxChainBuffers),
        .init("tx_chains_total", .counter, "frames", "Chains queued on the TX ring", \.statistics.txChains),
        .init("tx_chain_buffers_total", .counter, "buffers", "Buffers of the chains queued on the TX ring", \.statistics.txChainBuffers),
        .init("chains_discarded_total", .counter, "frames", "Received chains not whole or not valid (their buffers taken back)", \.statistics.chainsDiscarded),
        .init("released_total", .counter, "frames", "Received frames the job gave back", \.statistics.released),
        .init("forwarded_total", .counter, "frames", "Received frames the job sent on a TX ring", \.statistics.forwarded),
        .init("fill_posted_total", .counter, "buffers", "Buffers posted to the fill ring", \.statistics.fillPosted),
        .init("fill_recycled_total", .counter, "buffers", "Of the buffers posted, those given back and posted again as they were", \.statistics.fillRecycled),
        .init("fill_shortfalls_total", .counter, "events", "Refills that found no buffer", \.statistics.fillShortfalls),
        .init("fill_ring_empty_events_total", .counter, "events", "Receives that found the fill ring empty", \.statistics.fillRingEmptyEvents),
        .init("invalid_addresses_total", .counter, "frames", "RX or completion addresses skipped", \.statistics.invalidAddresses),
        .init("invalid_lengths_total", .counter, "frames", "RX descriptors whose length ran past the buffer", \.statistics.invalidLengths),
        .init("tx_allocation_failures_total", .counter, "events", "TX buffers asked for when the UMEM had none", \.statistics.transmitAllocationFailures),
        .init("tx_ring_full_drops_total", .counter, "frames", "Frames to send that the TX ring could not take", \.statistics.transmitRingFullDrops),
        .init("rx_batches_total", .counter, "calls", "Receives that took at least one frame", \.statistics.receiveBatches),
        .init("tx_batches_total", .counter, "calls", "Transmits that queued at least one frame", \.statistics.transmitBatches),
        .init("poll_sleeps_total", .counter, "calls", "Times the poll thread slept in poll()", \.statistics.sleeps),
        .init("naps_total", .counter, "calls", "Timed naps of the adaptive wait while a stream flows", \.statistics.naps),
        .init("rx_wakeups_total", .counter, "calls", "recvfrom calls (RX wakeups, busy polling)", \.statistics.receiveWakeups),
        .init("tx_wakeups_total", .counter, "calls", "sendto calls (TX wakeups)", \.statistics.transmitWakeups),
        .init("xdp_redirected_total", .counter, "frames", "Frames the XDP program sent to the socket", \.program.redirected),
        .init("xdp_passed_total", .counter, "frames", "Frames the XDP program left to the kernel", \.program.passed),
        .init("xdp_too_long_total", .counter, "frames", "Frames that matched but were longer than the frame limit (passed)", \.program.tooLong),
        .init("kernel_rx_dropped_total", .counter, "frames", "Frames the kernel dropped (XDP_STATISTICS)", \.kernelRxDropped),
        .init("kernel_rx_ring_full_total", .counter, "frames", "Frames dropped on a full RX ring", \.kernelRxRingFull),
        .init("kernel_fill_ring_empty_total", .counter, "events", "Times the kernel found the fill ring empty", \.kernelFillRingEmpty),
        .init("kernel_tx_invalid_total", .counter, "frames", "TX descriptors the kernel refused", \.kernelTxInvalid),
        .init("kernel_rx_invalid_total", .counter, "buffers", "Fill ring descriptors the kernel refused", \.kernelRxInvalid),
        .init("kernel_tx_ring_empty_total", .counter, "events", "Times the kernel found the TX ring empty", \.kernelTxRingEmpty),
        .init("buffers_in_fill_ring", .gauge, "buffers", "Buffers posted, not yet taken", \.inFillRing),
        .init("buffers_with_kernel_for_receive", .gauge, "buffers", "Buffers the kernel took to receive into", \.withKernelForReceive),
        .init("buffers_in_application", .gauge, "buffers", "Received frames the job holds (a chain of buffers counts once)", \.inApplication),
        .init("buffers_in_tx_ring", .gauge, "buffers", "Frames in the TX ring, not yet taken", \.inTransmitRing),
        .init("buffers_with_kernel_for_transmit", .gauge, "buffers", "Frames the kernel took to send", \.withKernelForTransmit),
        .init("buffers_kept_for_fill", .gauge, "buffers", "Buffers given back, kept to post to the fill ring again", \.keptForFill),
        .init("fill_cache_pages_taken_total", .counter, "pages", "Pages the fill cache took from the pool", \.pagesTaken),
        .init("fill_cache_pages_released_busy_total", .counter, "pages", "Pages the fill cache let go while fragments were out", \.pagesReleasedBusy),
        .init("fill_cache_pages_reused_total", .counter, "pages", "Pages the fill cache reused in place", \.pagesReusedInPlace),
        .init("slot_pages_reused_total", .counter, "pages", "Descriptor slots' halves flipped on the same page", \.slotPagesReused),
        .init("slot_pages_busy_total", .counter, "pages", "Descriptor slots' pages given up while held", \.slotPagesBusy),
        .init("slot_pages_allocated_total", .counter, "pages", "Pages the descriptor slots took from the pool", \.slotPagesAllocated),
        .init("sequence_received_total", .counter, "frames", "Stamped frames received (generate's sequence-numbered frames)", \.sequenceReceived),
        .init("sequence_missing", .gauge, "frames", "Stamped frames missing from their flow's sequence (late ones taken back out)", \.sequenceMissing),
        .init("sequence_reordered_total", .counter, "frames", "Stamped frames that arrived after a later one", \.sequenceReordered),
        .init("sequence_duplicated_total", .counter, "frames", "Stamped frames whose sequence number had been seen", \.sequenceDuplicated),
        .init("sequence_restarts_total", .counter, "events", "Times a flow's sender started its sequence again", \.sequenceRestarts),
        .init("sequence_flows", .gauge, "flows", "Flows of stamped frames tracked", \.sequenceFlows),
        .init("capture_staged_total", .counter, "frames", "Frames copied for the capture (received and sent)", \.capture.staged),
        .init("capture_dropped_total", .counter, "frames", "Frames the capture missed (its staging full, or its writer stopped)", \.capture.dropped),
    ]
}
