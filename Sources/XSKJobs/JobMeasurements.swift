// What a job measures beyond the queue's counters, published with them (every ~100 ms) for the
// stats, the JSON, the metrics and the stop report: the sequences of the stamped frames it
// received, and the round trips of its probes. A job keeps one as a stored property and returns it from `measurements`; the
// poll thread copies it out when it publishes, never per frame.

/// Measurements a job publishes with its queue's counters.
public struct JobMeasurements: Sendable {
    /// Loss, reordering and duplicates of the stamped frames received (see `ProbeStamp`).
    public var sequences = FlowSequences()
    /// Round trips of the job's own probes, in nanoseconds (the latency job's).
    public var roundTrips = LatencyHistogram()
    /// Residencies of sampled frames, arrival at the XDP program to transmit completion, in
    /// nanoseconds (kept by the poll loop for every job when `PollSettings.residencySampling`
    /// is on; a job's own value here is replaced).
    public var residency = LatencyHistogram()

    /// Nothing measured yet.
    public init() {}
}
