// The daemon's built-in jobs by name, as `--job` takes them. Each is a `PacketJob` in its own
// file, written against the same public API a user has.

/// A built-in job.
public enum JobKind: String, Sendable, CaseIterable {
    /// Count the frames and give the buffers back: a sink, and the RX benchmark.
    case drop
    /// Swap Ethernet source and destination and send each frame back out of the queue it came
    /// from, in place (no copy): a network tester's reflector.
    case reflect
    /// Transmit frames built in TX fragments: sequence-numbered, at a rate or as fast as
    /// possible, up to a count.
    case generate
    /// Two-port L2 forwarder: every frame received on one interface leaves by the other, in
    /// both directions, without a copy (both interfaces' sockets share one UMEM).
    case forward
    /// Stamped probes to a reflecting peer, their round trips in a histogram: paced, or one
    /// at a time with --rate 0.
    case latency
    /// Write every received frame into a pcapng file (--write), then give its buffer back.
    case capture
}
