extension Duration {
    /// The duration in whole nanoseconds (truncated; wraps past 292 years): for timeouts and
    /// clocks kept as integers.
    public var inNanoseconds: Int64 {
        components.seconds &* 1_000_000_000 &+ components.attoseconds / 1_000_000_000
    }

    /// The duration in seconds, as a Double: for rates and for timeouts given in seconds.
    public var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
